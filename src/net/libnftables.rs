//! Runs nftables commands in this process through libnftables, the library
//! nft(8) is built on, loaded when first needed: the same command text as
//! `nft -f -`, without a process spawned for every change of a container's
//! network (which cost more than the rest of routed mode's setup). The
//! library talks netlink from the calling thread, so it acts in that
//! thread's network namespace.

use std::ffi::{c_char, c_int, c_uint, c_void, CStr, CString};
use std::sync::OnceLock;

use libloading::{Library, Symbol};

use super::nft::NftError;

/// The shared object Debian's `libnftables1` (a dependency of `nftables`)
/// installs; its ABI is versioned by this name.
const LIBRARY: &str = "libnftables.so.1";

/// The library, loaded once per process and kept (a supervisor loads and
/// deletes its table with it, and teardown may run long after setup).
static LOADED: OnceLock<Option<Library>> = OnceLock::new();

/// Loads the library now, e.g. on a thread of its own while the rest of
/// the pod network is set up, so the first [`run`] does not wait for it.
pub fn preload() {
    let _ = library();
}

/// The loaded library, loading it on first use: every symbol bound at once
/// (RTLD_NOW) and one read-only command run (`list tables`), because the
/// library's first command pays its one-time set-up (the parser, its
/// caches), which took longer than the command itself. Loading happens
/// once; a [`run`] that comes meanwhile waits for it.
fn library() -> Result<&'static Library, NftError> {
    LOADED
        .get_or_init(|| {
            // SAFETY: loading libnftables runs only its (and its
            // dependencies') ELF constructors, which set up no state beyond
            // the library's own.
            let library: Library = unsafe {
                libloading::os::unix::Library::open(
                    Some(LIBRARY),
                    libloading::os::unix::RTLD_NOW | libloading::os::unix::RTLD_LOCAL,
                )
            }
            .ok()?
            .into();
            let _ = Api::from(&library).and_then(|api| api.run(c"list tables"));
            Some(library)
        })
        .as_ref()
        .ok_or(NftError::Missing)
}

/// Runs `commands` (nft syntax, several lines allowed) as one transaction.
/// The error is nft's first message line.
pub fn run(commands: &str) -> Result<(), NftError> {
    let text =
        CString::new(commands).map_err(|_| NftError::Failed("a NUL byte in the ruleset".into()))?;
    Api::from(library()?)?.run(&text)
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
    ctx_free: Symbol<'l, unsafe extern "C" fn(*mut c_void)>,
    buffer_output: Symbol<'l, unsafe extern "C" fn(*mut c_void) -> c_int>,
    buffer_error: Symbol<'l, unsafe extern "C" fn(*mut c_void) -> c_int>,
    error_buffer: Symbol<'l, unsafe extern "C" fn(*mut c_void) -> *const c_char>,
    run_cmd: Symbol<'l, unsafe extern "C" fn(*mut c_void, *const c_char) -> c_int>,
}

impl<'l> Api<'l> {
    /// Runs the nft command `text` through a context of its own.
    fn run(&self, text: &CStr) -> Result<(), NftError> {
        // SAFETY: nft_ctx_new takes flags (0: none) and returns an owned context
        // or NULL; the context is freed below on every path.
        let ctx = unsafe { (self.ctx_new)(0) };
        if ctx.is_null() {
            return Err(NftError::Failed("cannot create an nftables context".into()));
        }
        // SAFETY: ctx is the live context; buffering keeps nft's messages off
        // this process's stdout/stderr and lets us read them; the command is a
        // NUL-terminated string that outlives the call; the error buffer is
        // owned by ctx and read before ctx is freed.
        let outcome = unsafe {
            (self.buffer_output)(ctx);
            (self.buffer_error)(ctx);
            let status = (self.run_cmd)(ctx, text.as_ptr());
            let message = first_line((self.error_buffer)(ctx));
            (self.ctx_free)(ctx);
            (status, message)
        };
        match outcome {
            (0, _) => Ok(()),
            (_, message) => Err(NftError::Failed(message)),
        }
    }

    /// Looks the calls up in `library`.
    fn from(library: &'l Library) -> Result<Self, NftError> {
        // SAFETY: each symbol is looked up with the signature libnftables.h
        // declares for it (stable since nftables 0.9).
        unsafe {
            Ok(Api {
                ctx_new: symbol(library, b"nft_ctx_new\0")?,
                ctx_free: symbol(library, b"nft_ctx_free\0")?,
                buffer_output: symbol(library, b"nft_ctx_buffer_output\0")?,
                buffer_error: symbol(library, b"nft_ctx_buffer_error\0")?,
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
