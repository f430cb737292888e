//! The `gtt-gateway` binary and its allocator; the command line lives in [`gtt_gateway::cli`].

/// jemalloc: about 30 % more callbacks per second than glibc's malloc here (bench/results),
/// whose per-thread arenas contend when one worker thread frees what another allocated.
#[cfg(all(target_os = "linux", not(target_env = "msvc")))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// jemalloc's settings, read at the first allocation (the variable `_RJEM_MALLOC_CONF` overrides
/// them): a background thread returns freed pages to the system about a second after they were
/// last used (`dirty_decay_ms`; `muzzy_decay_ms:0` frees them outright), and one arena per core
/// bounds what is kept per thread, so RSS falls back after a burst.
/// (A symbol jemalloc looks up by name, hence the one `unsafe` attribute of the workspace.)
#[cfg(all(target_os = "linux", not(target_env = "msvc")))]
#[allow(unsafe_code)]
#[unsafe(export_name = "_rjem_malloc_conf")]
pub static MALLOC_CONF: &[u8] =
    b"background_thread:true,narenas:2,dirty_decay_ms:1000,muzzy_decay_ms:0\0";

fn main() -> std::process::ExitCode {
    gtt_gateway::cli::main()
}
