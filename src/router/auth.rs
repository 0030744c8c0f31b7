//! Static authorization from the roles' permissions. (Placeholder: being written.)
