//! Messages: owned values that move between threads without being copied.
//!
//! Node clones a message with the structured clone algorithm unless its buffers are in the
//! transfer list, in which case they move and the sender's copy is detached. Rust moves by
//! default: a [`Message`] is a `Box<dyn Any + Send>`, so posting a `Vec<u8>` of 64 MiB moves
//! three words and the sender can no longer use it (the compiler enforces the "detached" part).
//! Types that are not `Send` cannot be posted at all, the counterpart of `DataCloneError`.
//! To share memory instead of moving it, use [`SharedBuffer`](super::SharedBuffer).

use std::any::Any;

/// A message between a worker and its parent: any owned, sendable value.
pub type Message = Box<dyn Any + Send>;

/// Wraps `value` as a [`Message`]. A value that already is a `Message` is passed through
/// unchanged instead of being boxed twice (so [`downcast`] finds the inner type).
pub fn message<T: Any + Send>(value: T) -> Message {
    let boxed: Message = Box::new(value);
    match boxed.downcast::<Message>() {
        Ok(inner) => *inner,
        Err(boxed) => boxed,
    }
}

/// Takes the value out of a message if it is a `T`; otherwise hands the message back.
pub fn downcast<T: Any>(message: Message) -> Result<T, Message> {
    message.downcast::<T>().map(|value| *value)
}

/// Borrows the value of a message if it is a `T`.
pub fn downcast_ref<T: Any>(message: &Message) -> Option<&T> {
    message.as_ref().downcast_ref::<T>()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_is_not_boxed_twice() {
        let inner = message(7u32);
        let outer = message(inner);
        assert_eq!(downcast_ref::<u32>(&outer), Some(&7));
        assert_eq!(downcast::<u32>(outer).ok(), Some(7));
    }

    #[test]
    fn a_wrong_type_hands_the_message_back() {
        let m = message(String::from("x"));
        let m = downcast::<u32>(m).expect_err("not a u32");
        assert_eq!(downcast::<String>(m).ok().as_deref(), Some("x"));
    }

    #[test]
    fn a_vec_moves_without_copying_its_buffer() {
        let v = vec![1u8; 1 << 20];
        let address = v.as_ptr();
        let back: Vec<u8> = downcast(message(v)).expect("a Vec<u8>");
        assert_eq!(back.as_ptr(), address);
    }
}
