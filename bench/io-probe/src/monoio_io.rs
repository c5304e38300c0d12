//! The proxy on monoio: its io_uring driver, or its epoll one. monoio's
//! reads and writes take the buffer and hand it back (the kernel fills it
//! after the call returns, with io_uring), hence the buffers moved in and
//! out of each call.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use monoio::buf::{IoBuf, IoBufMut};
use monoio::io::{AsyncReadRent, AsyncWriteRentExt};
use monoio::net::{TcpListener, TcpStream};

use crate::http::{response_len, Request, Routes, NOT_FOUND};
use crate::Args;

pub fn run_uring(args: Args) -> io::Result<()> {
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(1024)
        .build()?
        .block_on(accept(args))
}

/// io_uring with the kernel's work for completions deferred to the moment
/// the thread asks for them (`DEFER_TASKRUN`, one thread submits), rather
/// than done by interrupting it as they come.
pub fn run_uring_deferred(args: Args) -> io::Result<()> {
    let mut ring = io_uring::IoUring::builder();
    ring.setup_coop_taskrun()
        .setup_single_issuer()
        .setup_defer_taskrun();
    monoio::RuntimeBuilder::<monoio::IoUringDriver>::new()
        .with_entries(1024)
        .uring_builder(ring)
        .build()?
        .block_on(accept(args))
}

pub fn run_epoll(args: Args) -> io::Result<()> {
    monoio::RuntimeBuilder::<monoio::LegacyDriver>::new()
        .build()?
        .block_on(accept(args))
}

async fn accept(args: Args) -> io::Result<()> {
    let listener = TcpListener::bind(args.listen)?;
    let routes = Rc::new(args.routes);
    loop {
        let (client, _) = listener.accept().await?;
        client.set_nodelay(true)?;
        let routes = Rc::clone(&routes);
        monoio::spawn(async move {
            let _ = serve(client, &routes, args.upstream).await;
        });
    }
}

async fn serve(mut client: TcpStream, routes: &Routes, upstream: SocketAddr) -> io::Result<()> {
    // A Vec's length is what was read into it; its capacity, the room.
    let mut cbuf: Vec<u8> = Vec::with_capacity(8192);
    let mut ubuf: Vec<u8> = Vec::with_capacity(8192);
    let mut up: Option<TcpStream> = None;
    loop {
        let decision = loop {
            match routes.request(&cbuf) {
                Request::Partial if cbuf.len() < cbuf.capacity() => {
                    let (read, back) = read_more(&mut client, cbuf).await;
                    cbuf = back;
                    if read? == 0 {
                        return Ok(());
                    }
                }
                Request::Partial | Request::Close => return Ok(()),
                decided => break decided,
            }
        };
        let used = match decision {
            Request::Forward(len) => {
                let stream = match &mut up {
                    Some(stream) => stream,
                    None => {
                        let stream = TcpStream::connect(upstream).await?;
                        stream.set_nodelay(true)?;
                        up.insert(stream)
                    }
                };
                let (written, back) = stream.write_all(cbuf.slice(0..len)).await;
                cbuf = back.into_inner();
                written?;
                ubuf.clear();
                let (total, back) = read_response(stream, ubuf).await;
                ubuf = back;
                let total = total?;
                let (written, back) = client.write_all(ubuf.slice(0..total)).await;
                ubuf = back.into_inner();
                written?;
                len
            }
            Request::NotFound(len) => {
                let (written, _) = client.write_all(NOT_FOUND).await;
                written?;
                len
            }
            Request::Partial | Request::Close => unreachable!("handled above"),
        };
        cbuf.drain(..used);
    }
}

/// One read into the room after what `buf` holds.
async fn read_more(stream: &mut TcpStream, buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
    let (len, room) = (buf.len(), buf.capacity());
    let (read, slice) = stream.read(buf.slice_mut(len..room)).await;
    (read, slice.into_inner())
}

/// Reads one whole response into `buf`; returns its length.
async fn read_response(stream: &mut TcpStream, mut buf: Vec<u8>) -> (io::Result<usize>, Vec<u8>) {
    loop {
        let want = match response_len(&buf) {
            Some(Ok(total)) if buf.len() >= total => return (Ok(total), buf),
            Some(Ok(total)) => total,
            Some(Err(())) => return (Err(io::ErrorKind::InvalidData.into()), buf),
            None => buf.len() + 1,
        };
        if want > buf.capacity() {
            buf.reserve(want.max(buf.capacity() * 2) - buf.len());
        }
        let (read, back) = read_more(stream, buf).await;
        buf = back;
        match read {
            Ok(0) => return (Err(io::ErrorKind::UnexpectedEof.into()), buf),
            Ok(_) => {}
            Err(error) => return (Err(error), buf),
        }
    }
}
