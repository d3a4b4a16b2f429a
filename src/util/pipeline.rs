//! Ordered parallel work with bounded memory: one producer thread emits items in order, `threads`
//! workers transform them, and the caller consumes the results in the original order. At most
//! `in_flight` items exist at once (emitted but not yet handed to the consumer), so memory stays
//! bounded whatever the input size. Pack, unpack, export and `verify --deep` run on this one
//! mechanism; `verify`'s frame checks, which read their own input, on [`for_each_index`]; the
//! frames in flight are recycled through a [`BufferPool`].
use crate::error::{Error, Result};
use crossbeam_channel::{Receiver, Sender, bounded};
use std::collections::BTreeMap;

/// Hands items from the producer to the workers, waiting for a free slot first.
pub struct Emitter<T> {
    slots: Receiver<()>,
    work: Sender<(usize, T)>,
    next: usize,
}

impl<T> Emitter<T> {
    /// Emits the next item. Returns `false` if the consumer has stopped: the producer should return.
    pub fn emit(&mut self, item: T) -> bool {
        if self.slots.recv().is_err() {
            return false;
        }
        let index = self.next;
        self.next += 1;
        self.work.send((index, item)).is_ok()
    }
}

/// The workers' results, yielded in the order the producer emitted the items.
pub struct Ordered<U> {
    results: Receiver<(usize, Result<U>)>,
    pending: BTreeMap<usize, Result<U>>,
    next: usize,
    slots: Sender<()>,
}

impl<U> Iterator for Ordered<U> {
    type Item = Result<U>;

    fn next(&mut self) -> Option<Result<U>> {
        loop {
            if let Some(result) = self.pending.remove(&self.next) {
                self.next += 1;
                let _ = self.slots.send(());
                return Some(result);
            }
            match self.results.recv() {
                Ok((index, result)) => {
                    self.pending.insert(index, result);
                }
                Err(_) => return None,
            }
        }
    }
}

/// Runs `produce` on its own thread, `work` on `threads` workers, and `consume` on the calling
/// thread over the ordered results. A producer error wins over a consumer error, since the consumer
/// then only sees the stream end early.
pub fn run<T, U, P, W, C, R1, R2>(
    threads: usize,
    in_flight: usize,
    produce: P,
    work: W,
    consume: C,
) -> Result<(R1, R2)>
where
    T: Send,
    U: Send,
    P: FnOnce(&mut Emitter<T>) -> Result<R1> + Send,
    W: Fn(T) -> Result<U> + Sync,
    C: FnOnce(&mut Ordered<U>) -> Result<R2>,
    R1: Send,
{
    let threads = threads.max(1);
    let in_flight = in_flight.max(threads);
    let (slot_tx, slot_rx) = bounded::<()>(in_flight);
    for _ in 0..in_flight {
        slot_tx.send(()).expect("slot channel has room");
    }
    let (work_tx, work_rx) = bounded::<(usize, T)>(in_flight);
    let (result_tx, result_rx) = bounded::<(usize, Result<U>)>(in_flight);
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || {
            let mut emitter = Emitter {
                slots: slot_rx,
                work: work_tx,
                next: 0,
            };
            produce(&mut emitter)
        });
        let work = &work;
        for _ in 0..threads {
            let work_rx = work_rx.clone();
            let result_tx = result_tx.clone();
            scope.spawn(move || {
                for (index, item) in work_rx.iter() {
                    if result_tx.send((index, work(item))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(work_rx);
        drop(result_tx);
        let mut ordered = Ordered {
            results: result_rx,
            pending: BTreeMap::new(),
            next: 0,
            slots: slot_tx,
        };
        let consumed = consume(&mut ordered);
        drop(ordered);
        let produced = producer
            .join()
            .unwrap_or_else(|_| Err(Error::Internal("the reader thread panicked".into())));
        match (produced, consumed) {
            (Err(e), _) => Err(e),
            (Ok(_), Err(e)) => Err(e),
            (Ok(a), Ok(b)) => Ok((a, b)),
        }
    })
}

/// Buffers handed back after use, so the frames in flight reuse the same memory instead of
/// allocating (and page-faulting in) 16 MiB per frame. Without it glibc keeps freed 16 MiB
/// blocks in per-thread arenas, and peak RSS was 1.5x what the frames in flight hold
/// (docs/bench/README.md). At most `capacity` buffers are kept; more are freed.
pub struct BufferPool {
    tx: Sender<Vec<u8>>,
    rx: Receiver<Vec<u8>>,
}

impl BufferPool {
    /// A pool keeping at most `capacity` buffers.
    pub fn new(capacity: usize) -> BufferPool {
        let (tx, rx) = bounded(capacity.max(1));
        BufferPool { tx, rx }
    }

    /// A pool for one kind of buffer of a [`run`] with `threads` workers and `threads + 2` items
    /// in flight: room for those, plus one being filled on each worker and on the producer.
    pub fn for_run(threads: usize) -> BufferPool {
        BufferPool::new(2 * threads + 3)
    }

    /// A buffer from the pool (its old length and bytes kept: callers overwrite or clear it), or
    /// a new empty one.
    pub fn take(&self) -> Vec<u8> {
        self.rx.try_recv().unwrap_or_default()
    }

    /// Hands `buf` back for reuse.
    pub fn give(&self, buf: Vec<u8>) {
        let _ = self.tx.try_send(buf);
    }
}

/// Runs `work(k, state)` for every `k` in `0..count` on `threads` workers, each with its own
/// `state` from `init` (a reusable buffer, say), taking the next `k` in increasing order: no
/// producer thread and no hand-over, for work that reads its own input (a frame at a known
/// offset). Returns the error of the smallest `k` that failed, so the same input gives the same
/// message however the threads were scheduled: once `k` failed no larger index is started, and
/// every smaller one was already taken and is finished.
pub fn for_each_index<S>(
    threads: usize,
    count: usize,
    init: impl Fn() -> S + Sync,
    work: impl Fn(usize, &mut S) -> Result<()> + Sync,
) -> Result<()> {
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let next = AtomicUsize::new(0);
    let stop_at = AtomicUsize::new(usize::MAX);
    let first_failure: Mutex<Option<(usize, Error)>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, count.max(1)) {
            scope.spawn(|| {
                let mut state = init();
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    if k >= count || k > stop_at.load(Ordering::Acquire) {
                        return;
                    }
                    if let Err(e) = work(k, &mut state) {
                        stop_at.fetch_min(k, Ordering::AcqRel);
                        let mut failure = first_failure.lock().unwrap_or_else(|p| p.into_inner());
                        if failure.as_ref().is_none_or(|(at, _)| k < *at) {
                            *failure = Some((k, e));
                        }
                        return;
                    }
                }
            });
        }
    });
    match first_failure
        .into_inner()
        .unwrap_or_else(|p| p.into_inner())
    {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// The number of worker threads to use when the user did not say: every core.
pub fn default_threads() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pool_hands_back_what_it_was_given_and_keeps_at_most_its_capacity() {
        let pool = BufferPool::new(2);
        assert!(
            pool.take().capacity() == 0,
            "an empty pool makes a new buffer"
        );
        let mut given = Vec::with_capacity(4096);
        given.extend_from_slice(b"old bytes");
        let address = given.as_ptr();
        pool.give(given);
        let back = pool.take();
        assert_eq!(back.as_ptr(), address, "the same allocation comes back");
        assert_eq!(
            back, b"old bytes",
            "contents are left for the caller to overwrite"
        );
        for _ in 0..5 {
            pool.give(vec![0u8; 10]);
        }
        let kept = std::iter::from_fn(|| Some(pool.take()))
            .take_while(|b| b.capacity() != 0)
            .count();
        assert_eq!(kept, 2, "buffers beyond the capacity are freed, not kept");
    }

    #[test]
    fn every_index_runs_once_on_many_threads() {
        use std::sync::atomic::{AtomicU64, Ordering};
        let seen: Vec<AtomicU64> = (0..500).map(|_| AtomicU64::new(0)).collect();
        for_each_index(
            4,
            500,
            || (),
            |k, _| {
                seen[k].fetch_add(1, Ordering::Relaxed);
                Ok(())
            },
        )
        .unwrap();
        assert!(seen.iter().all(|n| n.load(Ordering::Relaxed) == 1));
        for_each_index(3, 0, || (), |_, _| unreachable!()).unwrap();
    }

    #[test]
    fn the_smallest_failing_index_is_reported_whatever_the_schedule() {
        for _ in 0..20 {
            let err = for_each_index(
                4,
                300,
                || (),
                |k, _| {
                    if k % 50 == 17 {
                        // A later failure that finishes first must not win.
                        if k == 17 {
                            std::thread::sleep(std::time::Duration::from_millis(5));
                        }
                        return Err(Error::Internal(format!("failed at {k}")));
                    }
                    Ok(())
                },
            )
            .unwrap_err();
            assert_eq!(
                err.to_string(),
                Error::Internal("failed at 17".into()).to_string()
            );
        }
    }

    #[test]
    fn results_come_back_in_order_with_many_threads() {
        let (count, collected) = run(
            4,
            3,
            |e: &mut Emitter<u64>| {
                for i in 0..200u64 {
                    if !e.emit(i) {
                        break;
                    }
                }
                Ok(200)
            },
            |i| {
                if i % 7 == 0 {
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
                Ok(i * 2)
            },
            |ordered| ordered.collect::<Result<Vec<_>>>(),
        )
        .unwrap();
        assert_eq!(count, 200);
        assert_eq!(collected, (0..200).map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn a_consumer_that_stops_early_does_not_hang() {
        let result = run(
            2,
            2,
            |e: &mut Emitter<u64>| {
                let mut sent = 0;
                for i in 0..10_000u64 {
                    if !e.emit(i) {
                        break;
                    }
                    sent += 1;
                }
                Ok(sent)
            },
            Ok,
            |ordered| {
                let first = ordered.next().unwrap()?;
                Ok(first)
            },
        )
        .unwrap();
        assert!(
            result.0 < 10_000,
            "producer kept going after the consumer stopped"
        );
        assert_eq!(result.1, 0);
    }

    #[test]
    fn worker_errors_surface_in_order() {
        let err = run(
            2,
            4,
            |e: &mut Emitter<u64>| {
                for i in 0..10 {
                    e.emit(i);
                }
                Ok(())
            },
            |i| {
                if i == 5 {
                    Err(Error::Environment("five".into()))
                } else {
                    Ok(i)
                }
            },
            |ordered| ordered.collect::<Result<Vec<_>>>(),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), "five");
    }
}
