//! What kind of failure an error is: whose problem it is (the user's, a
//! service's outside weir, or weir's own) and whether trying the epoch again
//! can help. Each error type says so where it is made (as Arroyo's
//! `arroyo-rpc` errors do), so the restart logic reads it instead of
//! matching variant names after the fact.

/// Whose problem a failure is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorDomain {
    /// The pipeline file, a plugin, or the data is wrong: the user has to
    /// change something; running again fails the same way.
    User,
    /// A service weir depends on (a database, a broker, the checkpoint
    /// store, the disk) failed or could not be reached.
    External,
    /// A bug in weir, or a broken invariant.
    Internal,
}

/// Whether running the epoch again, from the last checkpoint, can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// The cause may go away (a database restarting, a network blip).
    Helps,
    /// It will fail the same way.
    Useless,
}

/// An error that knows its domain and whether a retry can help.
pub trait Classified {
    fn domain(&self) -> ErrorDomain;
    fn retry(&self) -> Retry;

    /// Whether a retry can help: the restart logic asks this.
    fn retryable(&self) -> bool {
        self.retry() == Retry::Helps
    }
}

impl<E: Classified + ?Sized> Classified for Box<E> {
    fn domain(&self) -> ErrorDomain {
        (**self).domain()
    }
    fn retry(&self) -> Retry {
        (**self).retry()
    }
}

impl std::fmt::Display for ErrorDomain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ErrorDomain::User => "user",
            ErrorDomain::External => "external",
            ErrorDomain::Internal => "internal",
        })
    }
}
