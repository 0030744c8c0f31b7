//! `UriIndex<T>`: exact, prefix and wildcard patterns in one URI-component trie.
//! (Placeholder: being written.)
