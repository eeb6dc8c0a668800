//! Who may change a server's shared memory: the server memories every member's turns read (and
//! the server's documents, which follow the same rule). The slash commands (`/memory`) and the
//! model's memory tools both decide here, so a member cannot do through the model what the
//! commands refuse them.

/// A change to a server's shared memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SharedMemoryChange {
    /// Teach something new: a memory, an import, a document.
    Teach,
    /// Edit or remove what is there, whoever taught it.
    Revise,
}

/// Whether a member may make `change`: a member who manages the server (Manage Server or
/// Administrator) always; any other member may teach while the server lets members teach
/// (`member_teaching`), and may never revise.
pub fn may_change(change: SharedMemoryChange, manages_server: bool, member_teaching: bool) -> bool {
    match change {
        SharedMemoryChange::Teach => manages_server || member_teaching,
        SharedMemoryChange::Revise => manages_server,
    }
}

#[cfg(test)]
mod tests {
    use super::SharedMemoryChange::{Revise, Teach};
    use super::*;

    #[track_caller]
    fn check(change: SharedMemoryChange, manages: bool, member_teaching: bool, allowed: bool) {
        assert_eq!(may_change(change, manages, member_teaching), allowed);
    }

    #[test]
    fn managers_change_everything_members_only_teach_and_only_when_allowed() {
        check(Teach, true, false, true);
        check(Teach, true, true, true);
        check(Teach, false, true, true);
        check(Teach, false, false, false);
        check(Revise, true, false, true);
        check(Revise, true, true, true);
        check(Revise, false, true, false);
        check(Revise, false, false, false);
    }
}
