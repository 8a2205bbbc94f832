//! The holder board: which agent holds the lock, as far as the controller knows.

use std::sync::Mutex;

/// A HolderBoard says which agent (by name) currently holds the lock as far as the
/// controller knows: set when an acquire returns ok, cleared when that agent's release
/// is invoked or one of its ops ends `info`. The nemesis's `pause-holder` reads it to
/// pause exactly the process that believes it holds the lock.
#[derive(Debug, Default)]
pub struct HolderBoard {
    holder: Mutex<Option<String>>,
}

impl HolderBoard {
    /// An empty board.
    pub fn new() -> HolderBoard {
        HolderBoard::default()
    }

    /// Records that `agent` now holds the lock.
    pub fn set(&self, agent: &str) {
        *self.holder.lock().unwrap_or_else(|e| e.into_inner()) = Some(agent.to_string());
    }

    /// Clears the board if `agent` is the one on it (another agent may have acquired
    /// since, after this one's lock expired).
    pub fn clear(&self, agent: &str) {
        let mut holder = self.holder.lock().unwrap_or_else(|e| e.into_inner());
        if holder.as_deref() == Some(agent) {
            *holder = None;
        }
    }

    /// The agent that holds the lock as far as the controller knows.
    pub fn current(&self) -> Option<String> {
        self.holder
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clearing_by_a_former_holder_leaves_the_new_holder_on_the_board() {
        let board = HolderBoard::new();
        board.set("agent-0");
        board.set("agent-1");
        board.clear("agent-0");
        assert_eq!(board.current().as_deref(), Some("agent-1"));
        board.clear("agent-1");
        assert_eq!(board.current(), None);
    }
}
