//! Map keys searched by reference. A `BTreeMap` keyed by owned names (`(String, String)`,
//! `(Scope, PeriodKind)`) can only be searched with an owned key, which costs a clone of
//! every name on each lookup — on the request path, several times per request. The way
//! around it: a trait with `parts()` returning the key as borrowed, ordered pieces,
//! implemented by the owned key and by its borrowed twin; the owned key `Borrow`s as
//! `dyn Trait`; and `dyn Trait` is ordered by `parts()`. [`by_parts!`] writes the last two.

/// For `by_parts!(Trait, Owned)`: `Owned: Borrow<dyn Trait>`, and equality and order of
/// `dyn Trait` by `parts()`. `Owned`'s own order must be that of its `parts()` (as a derived
/// order on the same fields in the same order is), which `Borrow` requires.
macro_rules! by_parts {
    ($tr:ident, $owned:ty) => {
        impl<'a> std::borrow::Borrow<dyn $tr + 'a> for $owned {
            fn borrow(&self) -> &(dyn $tr + 'a) {
                self
            }
        }
        impl PartialEq for dyn $tr + '_ {
            fn eq(&self, other: &Self) -> bool {
                self.parts() == other.parts()
            }
        }
        impl Eq for dyn $tr + '_ {}
        impl PartialOrd for dyn $tr + '_ {
            fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
                Some(self.cmp(other))
            }
        }
        impl Ord for dyn $tr + '_ {
            fn cmp(&self, other: &Self) -> std::cmp::Ordering {
                self.parts().cmp(&other.parts())
            }
        }
    };
}
pub(crate) use by_parts;
