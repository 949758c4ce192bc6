//! Runs nftables commands in this process through libnftables, the library
//! nft(8) is built on, loaded when first needed: the same command text as
//! `nft -f -`, without a process spawned for every change of a container's
//! network (which cost more than the rest of routed mode's setup). A
//! command acts in the calling thread's network namespace: it runs in a
//! context whose netlink socket was opened there.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::os::unix::fs::MetadataExt;
use std::sync::{Mutex, OnceLock, PoisonError};

use libloading::{Library, Symbol};

use super::nft::NftError;

/// The shared object Debian's `libnftables1` (a dependency of `nftables`)
/// installs; its ABI is versioned by this name.
const LIBRARY: &str = "libnftables.so.1";

/// The library, loaded once per process and kept (a supervisor loads and
/// deletes its table with it, and teardown may run long after setup).
static LOADED: OnceLock<Option<Library>> = OnceLock::new();

/// One nftables context per network namespace this process used, made
/// there on first use and never freed. A context's netlink socket belongs
/// to the namespace it was opened in, and closing a nftables socket waits
/// until the kernel has freed what any recent transaction on the node
/// deleted (an RCU grace period: 10 to 20 ms measured here), which a
/// context per command paid whenever another pod had just been deleted.
/// ukrun's processes each work in one pod netns (the supervisor in its
/// own, `delete` in the container's), so this holds one context, two at
/// most; the socket holds a reference to its namespace, so the namespace's
/// identity cannot be reused while its context lives.
static SESSIONS: Mutex<Vec<(NetnsId, Session)>> = Mutex::new(Vec::new());

/// A network namespace's identity (its nsfs device and inode).
type NetnsId = (u64, u64);

/// Makes this thread's namespace's context now and runs one read-only
/// command (`list tables`) in it: the library's first command pays its
/// one-time set-up (the parser, its caches), which took longer than the
/// command itself. Meant for a thread of its own while the rest of the pod
/// network is set up; a [`run`] that comes meanwhile waits for it.
pub fn preload() {
    let _ = with_session(|session| session.run(c"list tables"));
}

/// Runs `commands` (nft syntax, several lines allowed) as one transaction
/// in the calling thread's network namespace. The error is nft's first
/// message line.
pub fn run(commands: &str) -> Result<(), NftError> {
    let text =
        CString::new(commands).map_err(|_| NftError::Failed("a NUL byte in the ruleset".into()))?;
    with_session(|session| session.run(&text))?
}

/// Calls `f` with the context of the calling thread's network namespace,
/// made first if there is none. Commands run one at a time.
fn with_session<T>(f: impl FnOnce(&Session) -> T) -> Result<T, NftError> {
    let here = std::fs::metadata("/proc/thread-self/ns/net")
        .map(|m| (m.dev(), m.ino()))
        .map_err(|e| {
            NftError::Failed(format!("cannot tell this thread's network namespace: {e}"))
        })?;
    // A command that panicked left the context usable: each run starts from
    // the buffers' start.
    let mut sessions = SESSIONS.lock().unwrap_or_else(PoisonError::into_inner);
    let index = match sessions.iter().position(|(id, _)| *id == here) {
        Some(index) => index,
        None => {
            sessions.push((here, Session::new(Api::from(library()?)?)?));
            sessions.len() - 1
        }
    };
    Ok(f(&sessions[index].1))
}

/// The library, loaded on first use with every symbol bound at once
/// (RTLD_NOW).
fn library() -> Result<&'static Library, NftError> {
    LOADED
        .get_or_init(|| {
            // SAFETY: loading libnftables runs only its (and its
            // dependencies') ELF constructors, which set up no state beyond
            // the library's own.
            let library = unsafe {
                libloading::os::unix::Library::open(
                    Some(LIBRARY),
                    libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL,
                )
            };
            library.ok().map(Library::from)
        })
        .as_ref()
        .ok_or(NftError::Missing)
}

/// A context and the calls that use it.
struct Session {
    api: Api<'static>,
    ctx: *mut c_void,
}

// SAFETY: a context is used by one thread at a time (the Mutex around the
// sessions), and holds nothing tied to the thread that made it but its
// netlink socket's namespace, which is what it is kept for.
unsafe impl Send for Session {}

impl Session {
    /// A context whose output and errors are buffered (kept off this
    /// process's stdout and stderr, and readable).
    fn new(api: Api<'static>) -> Result<Self, NftError> {
        // SAFETY: nft_ctx_new takes flags (0: none: it opens its netlink
        // socket now, in this thread's namespace) and returns an owned
        // context or NULL; the context lives as long as the process.
        let ctx = unsafe { (api.ctx_new)(0) };
        if ctx.is_null() {
            return Err(NftError::Failed("cannot create an nftables context".into()));
        }
        // SAFETY: ctx is a live context.
        unsafe {
            (api.buffer_output)(ctx);
            (api.buffer_error)(ctx);
        }
        Ok(Self { api, ctx })
    }

    /// Runs the nft command `text`.
    fn run(&self, text: &CStr) -> Result<(), NftError> {
        // SAFETY: ctx is the live context, used by one thread at a time;
        // the command is a NUL-terminated string that outlives the call.
        // Reading a buffer rewinds it, so each command's messages start
        // afresh; the error buffer is read before the next command can
        // write to it.
        let (status, message) = unsafe {
            let status = (self.api.run_cmd)(self.ctx, text.as_ptr());
            (self.api.output_buffer)(self.ctx);
            (status, first_line((self.api.error_buffer)(self.ctx)))
        };
        match status {
            0 => Ok(()),
            _ => Err(NftError::Failed(message)),
        }
    }
}

/// The first line of nft's error buffer (`"failed"` when it is empty).
///
/// # Safety
/// `buffer` is NULL or a NUL-terminated string that lives for the call.
unsafe fn first_line(buffer: *const c_char) -> String {
    let text = if buffer.is_null() {
        String::new()
    } else {
        CStr::from_ptr(buffer).to_string_lossy().into_owned()
    };
    text.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("failed")
        .to_owned()
}

/// The libnftables calls ukrun makes (nftables' `include/nftables/libnftables.h`).
struct Api<'l> {
    ctx_new: Symbol<'l, unsafe extern "C" fn(c_uint) -> *mut c_void>,
    buffer_output: Symbol<'l, unsafe extern "C" fn(*mut c_void) -> c_int>,
    buffer_error: Symbol<'l, unsafe extern "C" fn(*mut c_void) -> c_int>,
    output_buffer: Symbol<'l, unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    error_buffer: Symbol<'l, unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    run_cmd: Symbol<'l, unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int>,
}

impl<'l> Api<'l> {
    /// Looks the calls up in `library`.
    fn from(library: &'l Library) -> Result<Self, NftError> {
        // SAFETY: each symbol is looked up with the signature libnftables.h
        // declares for it (stable since nftables 0.9).
        unsafe {
            Ok(Api {
                ctx_new: symbol(library, b"nft_ctx_new\0")?,
                buffer_output: symbol(library, b"nft_ctx_buffer_output\0")?,
                buffer_error: symbol(library, b"nft_ctx_buffer_error\0")?,
                output_buffer: symbol(library, b"nft_ctx_get_output_buffer\0")?,
                error_buffer: symbol(library, b"nft_ctx_get_error_buffer\0")?,
                run_cmd: symbol(library, b"nft_run_cmd_from_buffer\0")?,
            })
        }
    }
}

/// Looks `name` up in `library`.
///
/// # Safety
/// `T` must be the symbol's real type.
unsafe fn symbol<'l, T>(library: &'l Library, name: &[u8]) -> Result<Symbol<'l, T>, NftError> {
    library.get(name).map_err(|e| {
        NftError::Failed(format!(
            "{LIBRARY} lacks {}: {e}",
            String::from_utf8_lossy(&name[..name.len() - 1])
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_non_empty_line_is_the_message() {
        let text = c"\nError: syntax error, unexpected '}'\nline 2\n";
        // SAFETY: a NUL-terminated literal.
        assert_eq!(
            unsafe { first_line(text.as_ptr()) },
            "Error: syntax error, unexpected '}'"
        );
        // SAFETY: NULL is allowed.
        assert_eq!(unsafe { first_line(std::ptr::null()) }, "failed");
    }

    #[test]
    fn a_nul_byte_is_refused_before_the_library_is_asked() {
        assert_eq!(
            run("list tables\0flush ruleset"),
            Err(NftError::Failed("a NUL byte in the ruleset".into()))
        );
    }
}
