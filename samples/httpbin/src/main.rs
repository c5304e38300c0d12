//! `httpbin [--bind 127.0.0.1] [--port 8000] [--name NAME]`

use std::io::Write as _;

use clap::Parser;

#[derive(Parser)]
#[command(name = "httpbin", about = "A small Rust clone of the httpbin service")]
struct Args {
    /// Address (or host name) to bind.
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Port to bind; 0 picks a free one.
    #[arg(long, default_value_t = 8000)]
    port: u16,
    /// Adds `x-httpbin-name: NAME` to every response.
    #[arg(long)]
    name: Option<String>,
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args = Args::parse();
    let listener = tokio::net::TcpListener::bind((args.bind.as_str(), args.port)).await?;
    let addr = listener.local_addr()?;
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "httpbin listening on http://{addr}")?;
        stdout.flush()?;
    }
    let options = httpbin::Options { name: args.name };
    tokio::select! {
        result = httpbin::serve(listener, options) => result,
        _ = tokio::signal::ctrl_c() => Ok(()),
    }
}
