/**
 * The plug-in protocol of docs/plugins.md for the Java plug-ins (plugins/curator,
 * plugins/redisson): request lines parsed and checked ({@link splitbrain.plugin.Request}),
 * replies and lost-lock events encoded ({@link splitbrain.plugin.Reply}) and written whole
 * ({@link splitbrain.plugin.Output}), stdin read in bounded lines ({@link
 * splitbrain.plugin.LineReader}), and the loop that joins them ({@link
 * splitbrain.plugin.Server}). A plug-in brings its lock: the key rules and a {@link
 * splitbrain.plugin.Server.Handler}.
 */
package splitbrain.plugin;
