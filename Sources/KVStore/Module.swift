// The KVStore module. See Docs/ARCHITECTURE.md for what it owns; its owner replaces this file.
enum KVStoreModulePlaceholder {}
