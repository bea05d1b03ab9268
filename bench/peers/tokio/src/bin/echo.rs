// The Tokio peer of the echo benchmark (bench/io): a TCP server on 127.0.0.1 that writes
// back every byte it reads, one task per connection, for bench/io/echo_client.
//
//   echo --port N [--threads T]
//
// --threads 1 (the default) is the current_thread runtime; T > 1 the multi_thread runtime
// with T workers. Exits with status 3 if it cannot listen, 2 on bad usage.
use std::process::exit;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

async fn echo(mut c: TcpStream) {
    let _ = c.set_nodelay(true);
    let mut buf = vec![0u8; 4096];
    loop {
        let n = match c.read(&mut buf).await {
            Ok(0) | Err(_) => return, // end of stream, or reset: the client closes with RST
            Ok(n) => n,
        };
        if c.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}

fn usage() -> ! {
    eprintln!("usage: echo --port N [--threads T]");
    exit(2);
}

fn main() {
    let (mut port, mut threads) = (None::<u16>, 1usize);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).unwrap_or_else(|| usage());
        match args[i].as_str() {
            "--port" => port = Some(value.parse().unwrap_or_else(|_| usage())),
            "--threads" => threads = value.parse().ok().filter(|&t| t > 0).unwrap_or_else(|| usage()),
            _ => usage(),
        }
        i += 2;
    }
    let port = port.unwrap_or_else(|| usage());
    let rt = if threads == 1 {
        tokio::runtime::Builder::new_current_thread().enable_io().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_io().build()
    }
    .unwrap_or_else(|e| {
        eprintln!("echo: cannot build the runtime: {e}");
        exit(1);
    });
    rt.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap_or_else(|e| {
            eprintln!("echo: cannot listen on 127.0.0.1:{port}: {e}");
            exit(3);
        });
        loop {
            if let Ok((c, _)) = listener.accept().await {
                tokio::spawn(echo(c));
            }
        }
    });
}
