//! The one socket option safe Rust cannot set here: `TCP_DEFER_ACCEPT`
//! (std's setter is unstable; socket2, rustix and nix have none).
//!
//! A listening socket with it hands a connection to `accept` only once the
//! client's first bytes are there, as nginx's `listen ... deferred` and
//! h2o's listeners do. The request is then read at once: no `read` that
//! would block, no registration with the reactor (`epoll_ctl` ADD, then
//! DEL at close) and no wake-up to read it. With one connection per request
//! that cut 9.3 system calls per connection to 6.3, and the CPU per
//! connection by a quarter (docs/benchmarks.md, session 20). Only for
//! protocols whose client speaks first: a server-first protocol behind a
//! TCP listener (SMTP, MySQL) would wait for the kernel's timer.

use std::io;
use std::os::fd::AsFd;

/// How long, in seconds, the kernel holds a connection that has sent
/// nothing before handing it over anyway: one SYN-ACK retransmission
/// (Linux rounds the time up to whole retransmissions). Such a connection
/// then meets the gateway's own header timeout.
#[cfg(target_os = "linux")]
const HOLD_SECONDS: libc::c_int = 1;

/// Turns deferred accepting on or off for the listening `socket`.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
pub(crate) fn set_defer_accept(socket: &impl AsFd, on: bool) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let seconds: libc::c_int = if on { HOLD_SECONDS } else { 0 };
    // SAFETY: the descriptor is borrowed, so it stays open for the call;
    // the value pointer and length describe `seconds`, a live `c_int`, which
    // the kernel only reads.
    let result = unsafe {
        libc::setsockopt(
            socket.as_fd().as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_DEFER_ACCEPT,
            std::ptr::from_ref(&seconds).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Elsewhere connections are handed over as the kernel completes them.
#[cfg(not(target_os = "linux"))]
pub(crate) fn set_defer_accept(_socket: &impl AsFd, _on: bool) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::io::{Read as _, Write as _};
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use super::*;

    fn listening(deferred: bool) -> TcpListener {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        set_defer_accept(&listener, deferred).unwrap();
        listener.set_nonblocking(true).unwrap();
        listener
    }

    fn accepted_within(listener: &TcpListener, wait: Duration) -> Option<TcpStream> {
        let deadline = std::time::Instant::now() + wait;
        loop {
            match listener.accept() {
                Ok((stream, _)) => return Some(stream),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    if std::time::Instant::now() >= deadline {
                        return None;
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(error) => panic!("accept: {error}"),
            }
        }
    }

    #[test]
    fn a_deferred_listener_hands_over_a_connection_once_it_has_sent_bytes() {
        let listener = listening(true);
        let mut client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert!(
            accepted_within(&listener, Duration::from_millis(300)).is_none(),
            "a connection that sent nothing was handed over at once"
        );
        client.write_all(b"GET").unwrap();
        let mut accepted = accepted_within(&listener, Duration::from_secs(2))
            .expect("the connection was not handed over once it sent bytes");
        accepted.set_nonblocking(false).unwrap();
        let mut first = [0; 3];
        accepted.read_exact(&mut first).unwrap();
        assert_eq!(&first, b"GET");
    }

    #[test]
    fn a_silent_connection_is_handed_over_after_the_hold() {
        let listener = listening(true);
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        // One SYN-ACK retransmission: about a second, with the kernel's
        // timer slack.
        assert!(accepted_within(&listener, Duration::from_secs(5)).is_some());
    }

    #[test]
    fn turned_off_a_connection_is_handed_over_at_once() {
        let listener = listening(true);
        set_defer_accept(&listener, false).unwrap();
        let _client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        assert!(accepted_within(&listener, Duration::from_millis(500)).is_some());
    }
}
