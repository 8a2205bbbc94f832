//! The agent: the process on a node that executes one client's ops.
//!
//! The controller runs outside the cluster's network namespaces and reaches each agent
//! through a Unix socket in the run directory (filesystem sockets cross network
//! namespaces, so the controller itself is never partitioned). The agent runs inside a
//! node's namespace and talks to the lock servers and to the [`crate::resource`] over
//! TCP on the test subnet, so partitions cut exactly what they would cut in production.
//!
//! Requests and replies are JSON lines with ids; see [`protocol`].

mod client;
pub mod protocol;
mod server;

pub use client::AgentClient;
pub use protocol::{AgentNotice, AgentReply, AgentRequest, Command, Outcome};
pub use server::{AgentArgs, AgentServer, LEASE_CHECK_ENV, PluginArgs, serve};
