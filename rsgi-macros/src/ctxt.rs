//! The error accumulator: every error of a block, reported in one compile.

use std::cell::RefCell;

/// Collects errors; [`Ctxt::check`] folds them into one `syn::Error`.
/// Dropping it unchecked is a bug (the errors would be lost), so it panics
/// in debug builds.
#[derive(Debug, Default)]
pub(crate) struct Ctxt {
    errors: RefCell<Option<Vec<syn::Error>>>,
}

impl Ctxt {
    pub(crate) fn new() -> Self {
        Ctxt { errors: RefCell::new(Some(Vec::new())) }
    }

    /// Records a finished error.
    pub(crate) fn push(&self, err: syn::Error) {
        if let Some(list) = self.errors.borrow_mut().as_mut() {
            list.push(err);
        }
    }

    /// Whether any error was recorded.
    pub(crate) fn has_errors(&self) -> bool {
        self.errors.borrow().as_ref().is_some_and(|l| !l.is_empty())
    }

    /// All errors, combined in the order found.
    pub(crate) fn check(self) -> syn::Result<()> {
        let list = self.errors.borrow_mut().take().unwrap_or_default();
        let mut iter = list.into_iter();
        match iter.next() {
            None => Ok(()),
            Some(mut first) => {
                first.extend(iter);
                Err(first)
            }
        }
    }
}

impl Drop for Ctxt {
    fn drop(&mut self) {
        if !std::thread::panicking() && self.errors.borrow().is_some() {
            debug_assert!(false, "Ctxt dropped without check()");
        }
    }
}
