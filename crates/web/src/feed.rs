//! Live documents followed by many screens.
//!
//! A [`Feed`] is a `tokio::sync::watch` value with a [`Bell`] beside it:
//! every change rings the bell, which wakes each [`Listener`] registered
//! with it. A listener is registered once, when its stream opens, and is
//! re-armed on each poll with one atomic swap. A watch receiver waiting
//! with `changed()` instead re-queues itself on the channel's locked wait
//! list after every change; with 10,000 wallboards open that queueing, and
//! the polling of every other future a stream waits on, was a large part
//! of the cost of a change (`cargo bench -p dasan-web --bench fanout`).

use std::sync::{Arc, Mutex, Weak};

use futures_util::task::AtomicWaker;
use tokio::sync::watch;

/// Wakes every listener registered with it.
#[derive(Default)]
pub struct Bell {
    listeners: Mutex<Vec<Weak<Listener>>>,
}

impl Bell {
    /// Registers a listener; it is dropped from the bell once the listener
    /// itself is gone.
    pub fn add(&self, listener: &Arc<Listener>) {
        let mut listeners = self.lock();
        // Keep the list from growing with streams that came and went while
        // nothing rang.
        if listeners.len() >= 64 && listeners.len().is_power_of_two() {
            listeners.retain(|weak| weak.strong_count() > 0);
        }
        listeners.push(Arc::downgrade(listener));
    }

    /// Wakes every listener.
    pub fn ring(&self) {
        self.lock().retain(|weak| match weak.upgrade() {
            Some(listener) => {
                listener.waker.wake();
                true
            }
            None => false,
        });
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<Listener>>> {
        // A panic while holding the list leaves it whole: pushes and
        // retains do not tear it.
        self.listeners
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One stream's wake-up: registered with the bells of the feeds it follows.
#[derive(Default)]
pub struct Listener {
    waker: AtomicWaker,
}

impl Listener {
    /// The task to wake on the next ring. Register before looking at the
    /// feeds, so that a change between the look and the wait is not lost.
    pub fn register(&self, waker: &std::task::Waker) {
        self.waker.register(waker);
    }
}

/// A value that screens follow: a watch channel whose changes ring a bell.
pub struct Feed<T> {
    value: watch::Sender<T>,
    bell: Bell,
}

impl<T> Feed<T> {
    pub fn new(value: T) -> Self {
        Feed {
            value: watch::channel(value).0,
            bell: Bell::default(),
        }
    }

    /// Replaces the value and wakes the listeners.
    pub fn send_replace(&self, value: T) -> T {
        let old = self.value.send_replace(value);
        self.bell.ring();
        old
    }

    /// Changes the value in place; wakes the listeners when `modify` says
    /// it changed it.
    pub fn send_if_modified(&self, modify: impl FnOnce(&mut T) -> bool) -> bool {
        let modified = self.value.send_if_modified(modify);
        if modified {
            self.bell.ring();
        }
        modified
    }

    /// Whether anyone holds a receiver: a value nobody follows need not be
    /// kept up to date.
    pub fn is_followed(&self) -> bool {
        self.value.receiver_count() > 0
    }

    /// A receiver of the value (the current one counts as seen).
    pub fn subscribe(&self) -> watch::Receiver<T> {
        self.value.subscribe()
    }

    /// A receiver for a stream woken through `listener`: the current value
    /// counts as not yet seen, so it is the stream's first event.
    pub fn follow(&self, listener: &Arc<Listener>) -> watch::Receiver<T> {
        let mut receiver = self.value.subscribe();
        receiver.mark_changed();
        self.bell.add(listener);
        receiver
    }

    /// Wakes the listeners without a change (they look at something else,
    /// such as the floor closing).
    pub fn ring(&self) {
        self.bell.ring();
    }
}

#[cfg(test)]
mod tests {
    use std::task::{Wake, Waker};

    use super::*;

    #[derive(Default)]
    struct Count(std::sync::atomic::AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn woken(count: &Arc<Count>) -> usize {
        count.0.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn a_change_wakes_each_follower_once_per_registration() {
        let feed = Feed::new(1);
        let counts: Vec<Arc<Count>> = (0..3).map(|_| Arc::default()).collect();
        let listeners: Vec<Arc<Listener>> = (0..3).map(|_| Arc::default()).collect();
        let mut receivers: Vec<_> = listeners.iter().map(|l| feed.follow(l)).collect();
        for receiver in &receivers {
            assert!(
                receiver.has_changed().expect("open"),
                "the first value is news"
            );
        }
        for (listener, count) in listeners.iter().zip(&counts) {
            listener.register(&Waker::from(count.clone()));
        }
        feed.send_replace(2);
        // Not re-armed: a second change does not wake again.
        feed.send_replace(3);
        assert_eq!(counts.iter().map(woken).collect::<Vec<_>>(), [1, 1, 1]);
        assert_eq!(*receivers[0].borrow_and_update(), 3);
        assert!(!receivers[0].has_changed().expect("open"));

        // An unchanged value rings nobody; a dropped listener is forgotten.
        listeners[1].register(&Waker::from(counts[1].clone()));
        assert!(!feed.send_if_modified(|value| {
            let changed = *value != 3;
            *value = 3;
            changed
        }));
        assert_eq!(woken(&counts[1]), 1);
        drop(receivers.remove(2));
        let gone = Arc::downgrade(&listeners[2]);
        let mut listeners = listeners;
        listeners.pop();
        assert!(gone.upgrade().is_none());
        assert!(feed.send_if_modified(|value| {
            *value = 4;
            true
        }));
        assert_eq!(woken(&counts[1]), 2);
        assert_eq!(feed.bell.lock().len(), 2);
    }
}
