//! Bounds on what one scenario may ask of the machine. A shared scenario file is run as
//! root on CI machines and qualification rigs; without bounds a typo or a hostile file
//! could start thousands of threads or pin gigabytes of kernel memory in socket queues.

/// The documented bounds, all enforced when a scenario is compiled (exit 2 above them).
#[derive(Debug, Clone, Copy)]
pub struct Limits;

impl Limits {
    /// `[[emitter]]` tables.
    pub const EMITTERS: usize = 16;
    /// `[[receiver]]` tables (the sweep's receivers axis has the same bound).
    pub const RECEIVERS: usize = 64;
    /// `[[dump]]` tables.
    pub const DUMPS: usize = 16;
    /// `[[churn]]` tables.
    pub const CHURN: usize = 4;
    /// `[[program]]` tables (each a process tree in the sandbox).
    pub const PROGRAMS: usize = 8;
    /// Start delays plus ready timeouts of all programs: time that passes before the
    /// first send, outside the run's deadline.
    pub const PROGRAM_SETUP: std::time::Duration = std::time::Duration::from_secs(60);
    /// Bytes of one program argument or environment entry: the kernel's MAX_ARG_STRLEN
    /// (32 pages) less its NUL.
    pub const PROGRAM_ARG_BYTES: usize = 32 * 4096 - 1;
    /// Bytes of a program's argv and environment together (the kernel takes a quarter
    /// of the stack limit, 2 MiB with the usual 8 MiB; this leaves room for nlstorm's
    /// own variables).
    pub const PROGRAM_ARGS_TOTAL: usize = 1 << 20;
    /// Bytes of a trace file a replay reads (a large capture is hours of a busy machine).
    pub const TRACE_BYTES: u64 = 16 << 20;
    /// Messages one replay sends: its events times `repeat`.
    pub const REPLAY_SENDS: u64 = 1_000_000;
    /// Extra veth pairs in the sandbox.
    pub const VETHS: u32 = 1000;
    /// Loopback TCP connections in the sandbox (two descriptors each).
    pub const TCP_CONNECTIONS: u32 = 10_000;
    /// Worker threads a run starts: one per emitter, receiver, dump client and churn.
    pub const THREADS: usize = 100;
    /// User-space read buffers summed over receivers (read buffer x batch) and dump
    /// clients (request and event buffers), bytes.
    pub const READ_MEMORY: u64 = 1 << 30;
    /// Kernel memory the plan's queues may pin: twice every SO_RCVBUFFORCE request
    /// (rmem_max does not cap those), summed over receivers and dump clients, bytes.
    pub const FORCED_QUEUE_MEMORY: u64 = 4 << 30;
}
