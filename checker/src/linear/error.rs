//! Errors of the linearizability checker and its models.

/// A LinearError says why a history could not be checked: an unknown model, an initial
/// value or an operation the model cannot read. Each names the values involved and what
/// was expected.
#[derive(Debug, thiserror::Error)]
pub enum LinearError {
    /// No model has this name.
    #[error(
        "unknown model: model={name:?} (expected one of register, cas-register, kv, mutex, \
         fenced-mutex)"
    )]
    UnknownModel {
        /// The name given.
        name: String,
    },
    /// The `--init` value does not fit the model.
    #[error("bad initial value: model={model} init={init} (expected {expected})")]
    BadInit {
        /// The model.
        model: &'static str,
        /// The value given, as JSON.
        init: String,
        /// What the model accepts.
        expected: String,
    },
    /// An operation of the history is not one the model understands.
    #[error(
        "operation the model cannot read: model={model} index={index} f={f:?} value={value} \
         (expected {expected}; pick the model that matches the history with --model)"
    )]
    BadOperation {
        /// The model.
        model: &'static str,
        /// The history index of the op.
        index: u64,
        /// The op's function.
        f: String,
        /// The op's value, as JSON.
        value: String,
        /// What the model accepts.
        expected: String,
    },
    /// An operation completed before it was invoked.
    #[error(
        "operation completes before it starts: index={index} call_ns={call_ns} \
         return_ns={return_ns} (times must come from one monotonic clock)"
    )]
    ReturnBeforeCall {
        /// The history index of the invocation.
        index: u64,
        /// Invocation time.
        call_ns: u64,
        /// Completion time.
        return_ns: u64,
    },
    /// A completion has no invocation before it in its process.
    #[error(
        "ill-formed history: index={index} process={process} type={kind} f={f:?} completes \
         an operation that was never invoked (every ok, fail or info needs an invoke of the \
         same process before it)"
    )]
    CompletionWithoutInvocation {
        /// The history index of the completion.
        index: u64,
        /// Its process.
        process: String,
        /// Its type.
        kind: String,
        /// Its function.
        f: String,
    },
    /// The history has more operations than one search can index.
    #[error("history too large: operations={operations} in one partition (at most {max})")]
    TooLarge {
        /// Operations in the partition.
        operations: usize,
        /// The limit.
        max: usize,
    },
}
