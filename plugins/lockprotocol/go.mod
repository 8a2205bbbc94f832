// The plug-in protocol of docs/plugins.md for splitbrain's Go plug-ins: request
// parsing, replies, the serve loop and the time budget of a request.
module splitbrain/plugins/lockprotocol

go 1.24.0
