// A splitbrain lock plug-in running go-redsync's Redlock; built by
// scripts/build-plugins. See README.md.
module splitbrain/plugins/redsync

go 1.26.0

require (
	github.com/go-redsync/redsync/v4 v4.18.1
	github.com/redis/go-redis/v9 v9.23.0
	splitbrain/plugins/lockprotocol v0.0.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)

replace splitbrain/plugins/lockprotocol => ../lockprotocol
