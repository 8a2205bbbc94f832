"""The plug-in protocol the Python lock plug-ins share (plugins/kazoo, plugins/pottery):
`splitbrain_plugin.protocol` parses requests, encodes replies and lost-lock events, writes
each line whole, reads the environment every plug-in gets and runs the serve loop. A
plug-in brings its lock: the key rules and a handler of acquire, renew and release."""
