//! The wake-up signal: how the watchdog makes a thread blocked in a system call return
//! (EINTR) so that it sees the end of emission or the deadline.

/// Installs a do-nothing SIGUSR1 handler without SA_RESTART, so the wake-up signal makes
/// a blocked recvmsg return EINTR instead of killing the process.
pub fn install_wakeup_handler() {
    extern "C" fn noop(_: libc::c_int) {}
    // SAFETY: the handler does nothing, so it is async-signal-safe, and the sigaction
    // struct is zeroed and then filled before the call reads it.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = noop as extern "C" fn(libc::c_int) as usize;
        sa.sa_flags = 0;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut());
    }
}

/// Installs a do-nothing handler for each of `signals`. A PID namespace's init gets
/// no signal whose action is the default (the kernel drops it at send time, blocked or
/// not), so the program's init needs a handler before it can `sigwait` for them.
pub fn make_deliverable(signals: &[libc::c_int]) {
    extern "C" fn noop(_: libc::c_int) {}
    for &sig in signals {
        // SAFETY: as in `install_wakeup_handler`: a handler that does nothing, a zeroed
        // and then filled sigaction struct.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = noop as extern "C" fn(libc::c_int) as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Interrupts a thread of this run blocked in a system call (SIGUSR1 has a handler that
/// does nothing, so the call returns EINTR and the thread sees why it was woken).
pub fn wake(thread: libc::pthread_t) {
    let _ = nix::sys::pthread::pthread_kill(thread, nix::sys::signal::SIGUSR1);
}
