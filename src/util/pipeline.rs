//! Ordered parallel work with bounded memory: one producer thread emits items in order, `threads`
//! workers transform them, and the caller consumes the results in the original order. At most
//! `in_flight` items exist at once (emitted but not yet handed to the consumer), so memory stays
//! bounded whatever the input size. Pack, verify and unpack all run on this one mechanism.
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
