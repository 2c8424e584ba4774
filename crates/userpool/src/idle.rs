//! The user pools' own threads, all in the kernel's idle scheduling class: the credential
//! workers (`passwords::Hasher`) and the runtime that serves user-pool requests
//! ([`UserPools::handle_json_at_idle_priority`](crate::UserPools::handle_json_at_idle_priority)).

use std::sync::OnceLock;

/// Put the calling thread under `SCHED_IDLE`, the lowest class of the fair scheduler.
///
/// Not just nice 19: the kernel lets a nice-19 thread finish its time slice (a millisecond
/// or more) before a woken upload handler gets the core, while an idle-class thread is
/// preempted at once.
pub(crate) fn lower_own_priority() {
    use thread_priority::{
        NormalThreadSchedulePolicy, ThreadPriority, ThreadSchedulePolicy,
        set_thread_priority_and_policy, thread_native_id,
    };
    let idle = ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle);
    if let Err(e) = set_thread_priority_and_policy(thread_native_id(), ThreadPriority::Min, idle) {
        tracing::warn!(error = ?e, "could not lower the priority of a sign-in thread");
    }
    // A sleep ends up to the thread's timer slack (50 µs by default) after it is due:
    // `passwords::pause` would last several times its 20 µs and slow every sign-in down. The
    // core is idle while the thread sleeps either way, which is all a pause is for.
    if let Err(e) = rustix::thread::set_current_timer_slack(std::num::NonZeroU64::new(1)) {
        tracing::warn!(error = ?e, "could not shorten a sign-in thread's timer slack");
    }
}

/// How many threads each of the user pools' thread pools has: one per core.
pub(crate) fn threads_per_pool() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

/// The runtime that serves user-pool requests: one worker per core, each lowered by
/// [`lower_own_priority`] as it starts. `None` if it could not be built (the caller then
/// serves the request where it is). Built at the first request, never dropped.
pub(crate) fn request_runtime() -> Option<&'static tokio::runtime::Runtime> {
    static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads_per_pool())
                .thread_name("cubby-userpool")
                .on_thread_start(lower_own_priority)
                .enable_all()
                .build()
                .inspect_err(|e| {
                    tracing::error!(error = %e, "could not start the user-pool runtime; \
                        user-pool requests run on the main runtime")
                })
                .ok()
        })
        .as_ref()
}

#[cfg(test)]
mod tests {
    use thread_priority::{NormalThreadSchedulePolicy, ThreadSchedulePolicy};

    #[test]
    fn the_request_runtime_runs_in_the_idle_class() {
        let runtime = super::request_runtime().expect("the user-pool runtime starts");
        let policy = runtime
            .block_on(runtime.spawn(async { thread_priority::thread_schedule_policy() }))
            .expect("the task ran")
            .expect("the policy is readable");
        assert_eq!(
            policy,
            ThreadSchedulePolicy::Normal(NormalThreadSchedulePolicy::Idle)
        );
    }
}
