//! The proxy on Tokio's current-thread runtime (epoll), as vestibule runs.

use std::io;
use std::net::SocketAddr;
use std::rc::Rc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::LocalSet;

use crate::http::{response_len, Request, Routes, NOT_FOUND};
use crate::Args;

pub fn run(args: Args) -> io::Result<()> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let local = LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = TcpListener::bind(args.listen).await?;
        let routes = Rc::new(args.routes);
        loop {
            let (client, _) = listener.accept().await?;
            client.set_nodelay(true)?;
            let routes = Rc::clone(&routes);
            tokio::task::spawn_local(async move {
                let _ = serve(client, &routes, args.upstream).await;
            });
        }
    })
}

async fn serve(mut client: TcpStream, routes: &Routes, upstream: SocketAddr) -> io::Result<()> {
    let (mut cbuf, mut clen) = (vec![0u8; 8192], 0);
    let mut ubuf = vec![0u8; 8192];
    let mut up: Option<TcpStream> = None;
    loop {
        let decision = loop {
            match routes.request(&cbuf[..clen]) {
                Request::Partial if clen < cbuf.len() => {
                    match client.read(&mut cbuf[clen..]).await? {
                        0 => return Ok(()),
                        n => clen += n,
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
                stream.write_all(&cbuf[..len]).await?;
                let total = read_response(stream, &mut ubuf).await?;
                client.write_all(&ubuf[..total]).await?;
                len
            }
            Request::NotFound(len) => {
                client.write_all(NOT_FOUND).await?;
                len
            }
            Request::Partial | Request::Close => unreachable!("handled above"),
        };
        cbuf.copy_within(used..clen, 0);
        clen -= used;
    }
}

/// Reads one whole response into `buf`; returns its length.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut len = 0;
    let total = loop {
        match response_len(&buf[..len]) {
            Some(Ok(total)) => break total,
            Some(Err(())) => return Err(io::ErrorKind::InvalidData.into()),
            None => {}
        }
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match stream.read(&mut buf[len..]).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => len += n,
        }
    };
    if buf.len() < total {
        buf.resize(total, 0);
    }
    while len < total {
        match stream.read(&mut buf[len..total]).await? {
            0 => return Err(io::ErrorKind::UnexpectedEof.into()),
            n => len += n,
        }
    }
    Ok(total)
}
