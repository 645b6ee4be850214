use clap::Parser;
use libmimalloc_sys::{mi_option_set_default, mi_option_t};
use std::process::ExitCode;

// Webhook bodies are tens of kilobytes each; mimalloc handles that churn far better than
// the system allocator (see the ingest benchmark in docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Ids from the `mi_option_e` enum in the mimalloc.h that libmimalloc-sys builds (v3); the
/// crate names only some of them. The test below reads them back by name.
const MI_OPTION_ARENA_EAGER_COMMIT: mi_option_t = 4;
const MI_OPTION_PURGE_DELAY: mi_option_t = 15;

/// mimalloc by default commits its arenas eagerly and returns freed pages to the system a
/// second later, so a burst of deliveries leaves herald's resident memory near its peak.
/// Committing on demand and purging at once keeps it near what herald holds (docs/performance.md's
/// Performance section has the figures). Options set in the environment (`MIMALLOC_*`) win.
///
/// It runs as an ELF constructor just after mimalloc's own (priority 101, which reads the
/// environment): the first allocation reserves mimalloc's first arena with the options of
/// that moment, and allocations happen before `main`.
extern "C" fn release_memory_promptly() {
    // SAFETY: setters of mimalloc's global options, called while the process has one thread.
    unsafe {
        mi_option_set_default(MI_OPTION_ARENA_EAGER_COMMIT, 0);
        mi_option_set_default(MI_OPTION_PURGE_DELAY, 0);
    }
}

#[cfg(target_os = "linux")]
#[used]
#[unsafe(link_section = ".init_array.00102")]
static RELEASE_MEMORY_PROMPTLY: extern "C" fn() = release_memory_promptly;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = herald::cli::Cli::parse();
    let takes_mail = cli.command.takes_mail();
    if cli.command.only_prints() {
        // Rust ignores SIGPIPE, so printing to a closed pipe would panic; such a command
        // ends quietly instead, as `ls | head` does.
        // SAFETY: sets a signal's disposition to its default before any thread prints.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        }
    }
    match herald::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("herald: error: {}", herald::cli::error_text(&error));
            ExitCode::from(herald::cli::exit_status(&error, takes_mail))
        }
    }
}

#[cfg(test)]
mod tests {
    use libmimalloc_sys::mi_output_fun;
    use std::ffi::{CStr, c_char, c_void};

    unsafe extern "C" {
        // Exported by the mimalloc that libmimalloc-sys builds, not declared by the crate.
        fn mi_options_print_out(out: mi_output_fun, arg: *mut c_void);
    }

    unsafe extern "C" fn collect(message: *const c_char, arg: *mut c_void) {
        // SAFETY: `arg` is the String passed below and `message` a C string from mimalloc.
        let (text, message) = unsafe { (&mut *arg.cast::<String>(), CStr::from_ptr(message)) };
        text.push_str(&message.to_string_lossy());
    }

    #[test]
    fn herald_starts_with_mimalloc_committing_on_demand_and_purging_at_once() {
        let mut printed = String::new();
        // SAFETY: `collect` appends to `printed`, which outlives the call.
        unsafe { mi_options_print_out(Some(collect), (&raw mut printed).cast()) };
        for line in ["option 'arena_eager_commit': 0", "option 'purge_delay': 0"] {
            assert!(
                printed.lines().any(|printed| printed.trim_end() == line),
                "{line:?} not among mimalloc's options (did a libmimalloc-sys upgrade renumber \
                 them? see src/main.rs):\n{printed}"
            );
        }
    }
}
