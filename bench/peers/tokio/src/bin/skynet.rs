// The Tokio peer of xcoro-skynet-bench: the skynet benchmark, 10^6 tasks in a tree of
// fan-out 10; each leaf returns its index and each inner node spawns its children with
// tokio::spawn and returns the sum of their JoinHandles.
//
//   skynet [--threads N] [--n 1000000] [--repeat 5] [--warmup 1]
//
// --threads 1 is the current_thread runtime; N > 1 the multi_thread runtime with N workers.
// After `warmup` runs that are not shown, prints one line per run: the seconds it took
// (inside the runtime, from the root's spawn to its sum). Exits with status 1 if a sum is
// wrong, 2 on bad usage.
use std::future::Future;
use std::pin::Pin;
use std::process::exit;
use std::time::Instant;

fn skynet(num: u64, size: u64, div: u64) -> Pin<Box<dyn Future<Output = u64> + Send>> {
    Box::pin(async move {
        if size == 1 {
            return num;
        }
        let sub = size / div;
        let mut children = Vec::with_capacity(div as usize);
        for i in 0..div {
            children.push(tokio::spawn(skynet(num + i * sub, sub, div)));
        }
        let mut sum = 0;
        for child in children {
            sum += child.await.expect("a skynet task panicked");
        }
        sum
    })
}

fn usage() -> ! {
    eprintln!("usage: skynet [--threads N] [--n 1000000] [--repeat 5] [--warmup 1]");
    exit(2);
}

fn main() {
    let (mut threads, mut n, mut repeat, mut warmup) = (1u64, 1_000_000u64, 5u64, 1u64);
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).and_then(|v| v.parse::<u64>().ok()).unwrap_or_else(|| usage());
        match args[i].as_str() {
            "--threads" if value > 0 => threads = value,
            "--n" if value > 1 => n = value,
            "--repeat" => repeat = value,
            "--warmup" => warmup = value,
            _ => usage(),
        }
        i += 2;
    }
    let rt = if threads == 1 {
        tokio::runtime::Builder::new_current_thread().build()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads as usize).build()
    }
    .unwrap_or_else(|e| {
        eprintln!("skynet: cannot build the runtime: {e}");
        exit(1);
    });
    let want = n * (n - 1) / 2;
    for run in 0..warmup + repeat {
        let (sum, seconds) = rt.block_on(async move {
            let t0 = Instant::now();
            let sum = tokio::spawn(skynet(0, n, 10)).await.expect("the root task panicked");
            (sum, t0.elapsed().as_secs_f64())
        });
        if sum != want {
            eprintln!("skynet: sum {sum}, want {want}");
            exit(1);
        }
        if run >= warmup {
            println!("{seconds:.6}");
        }
    }
}
