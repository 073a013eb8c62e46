//! A value pushed on a thread-local stack for as long as a guard lives:
//! how a training hands per-training state (dropout's generator, batch
//! norm's next id) to layers that burn builds or runs without a way to pass
//! it. A stack, so a training that a waiting rayon worker picks up inside
//! another's tensor operation pushes its own state and pops it before the
//! first resumes.

use std::cell::RefCell;
use std::marker::PhantomData;
use std::thread::LocalKey;

/// Pops the value [`Pushed::onto`] pushed when dropped.
pub(crate) struct Pushed<T: 'static> {
    stack: &'static LocalKey<RefCell<Vec<T>>>,
    // The stack is this thread's: the guard must drop here too.
    _not_send: PhantomData<*const ()>,
}

impl<T: 'static> Pushed<T> {
    pub(crate) fn onto(stack: &'static LocalKey<RefCell<Vec<T>>>, value: T) -> Pushed<T> {
        stack.with(|s| s.borrow_mut().push(value));
        Pushed {
            stack,
            _not_send: PhantomData,
        }
    }
}

impl<T: 'static> Drop for Pushed<T> {
    fn drop(&mut self) {
        self.stack.with(|s| s.borrow_mut().pop());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        static STACK: RefCell<Vec<u32>> = const { RefCell::new(Vec::new()) };
    }

    fn top() -> Option<u32> {
        STACK.with(|s| s.borrow().last().copied())
    }

    #[test]
    fn the_innermost_value_is_on_top_until_its_guard_drops() {
        assert_eq!(top(), None);
        let outer = Pushed::onto(&STACK, 1);
        {
            let _inner = Pushed::onto(&STACK, 2);
            assert_eq!(top(), Some(2));
        }
        assert_eq!(top(), Some(1));
        drop(outer);
        assert_eq!(top(), None);
    }
}
