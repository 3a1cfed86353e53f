/// An ordered map on a B-tree: O(log n) lookup, insert and removal, and in-order scans from any
/// key. A value type with copy-on-write nodes: a copy costs O(1) and each later mutation copies
/// only the nodes on its path, so a copy can be read (serialized) while the original changes.
///
/// Invariants (CLRS B-tree of minimum degree t): every node but the root holds t-1 ... 2t-1
/// keys, in strictly ascending order; an internal node with k keys has k+1 children; every leaf
/// is at the same depth; `count` is the number of keys in the tree.
public struct OrderedMap<Key: Comparable, Value> {
    final class Node {
        var keys: [Key]
        var values: [Value]
        /// Empty for a leaf.
        var children: [Node]

        init(keys: [Key] = [], values: [Value] = [], children: [Node] = []) {
            self.keys = keys
            self.values = values
            self.children = children
        }

        var isLeaf: Bool { children.isEmpty }

        func copy() -> Node { Node(keys: keys, values: values, children: children) }

        /// The child at `index`, first made unique to this node (copy-on-write).
        func uniqueChild(_ index: Int) -> Node {
            if !isKnownUniquelyReferenced(&children[index]) {
                children[index] = children[index].copy()
            }
            return children[index]
        }

        /// The first position whose key is not less than `key`, and whether it equals `key`.
        func position(of key: Key) -> (index: Int, isFound: Bool) {
            var low = 0
            var high = keys.count
            while low < high {
                let middle = (low + high) / 2
                if keys[middle] < key { low = middle + 1 } else { high = middle }
            }
            return (low, low < keys.count && keys[low] == key)
        }
    }

    private var root: Node
    /// The number of entries.
    public private(set) var count: Int = 0
    /// t: a node holds at most 2t-1 keys and, unless it is the root, at least t-1.
    let minimumDegree: Int

    /// An empty map. `minimumDegree` (at least 2) trades node size against depth; tests use 2
    /// to exercise splits and merges.
    public init(minimumDegree: Int = 16) {
        precondition(minimumDegree >= 2, "OrderedMap: a B-tree's minimum degree is at least 2")
        self.minimumDegree = minimumDegree
        self.root = Node()
    }

    private var keysMax: Int { 2 * minimumDegree - 1 }

    public var isEmpty: Bool { count == 0 }

    /// The value stored for `key`, if any.
    public subscript(key: Key) -> Value? {
        var node = root
        while true {
            let (index, isFound) = node.position(of: key)
            if isFound { return node.values[index] }
            if node.isLeaf { return nil }
            node = node.children[index]
        }
    }

    /// The entry with the smallest key.
    public var first: (key: Key, value: Value)? {
        guard count > 0 else { return nil }
        var node = root
        while !node.isLeaf { node = node.children[0] }
        return (node.keys[0], node.values[0])
    }

    /// Stores `value` for `key`; returns the value it replaced.
    @discardableResult
    public mutating func updateValue(_ value: Value, forKey key: Key) -> Value? {
        makeRootUnique()
        if root.keys.count == keysMax {
            let oldRoot = root
            root = Node(children: [oldRoot])
            split(child: 0, of: root)
        }
        let replaced = insert(value, forKey: key, into: root)
        if replaced == nil { count += 1 }
        return replaced
    }

    /// Removes `key`; returns the value it held.
    @discardableResult
    public mutating func removeValue(forKey key: Key) -> Value? {
        guard count > 0 else { return nil }
        makeRootUnique()
        let removed = remove(key, from: root)
        if root.keys.isEmpty && !root.isLeaf {
            root = root.children[0]
        }
        if removed != nil { count -= 1 }
        return removed
    }

    /// Calls `body` on each entry in ascending key order, starting at the first key not less
    /// than `start` (at the smallest key when nil), until `body` returns false.
    public func forEach(from start: Key? = nil, _ body: (Key, Value) throws -> Bool) rethrows {
        _ = try visit(root, from: start, body)
    }

    /// Every entry in ascending key order.
    public var entries: [(key: Key, value: Value)] {
        var result: [(key: Key, value: Value)] = []
        result.reserveCapacity(count)
        forEach { key, value in
            result.append((key, value))
            return true
        }
        return result
    }

    /// Describes the first broken structural invariant, or nil when the tree is sound (tests).
    public func invariantViolation() -> String? {
        var leafDepth: Int? = nil
        var seen = 0
        let violation = check(root, depth: 0, lower: nil, upper: nil, isRoot: true, leafDepth: &leafDepth, seen: &seen)
        if let violation { return violation }
        return seen == count ? nil : "count \(count) but \(seen) keys in the tree"
    }

    // MARK: - Insertion

    private mutating func makeRootUnique() {
        if !isKnownUniquelyReferenced(&root) { root = root.copy() }
    }

    /// Splits the full child at `index` of `parent` around its median key.
    private func split(child index: Int, of parent: Node) {
        let child = parent.uniqueChild(index)
        let t = minimumDegree
        let sibling = Node(
            keys: Array(child.keys[t...]), values: Array(child.values[t...]),
            children: child.isLeaf ? [] : Array(child.children[t...]))
        let medianKey = child.keys[t - 1]
        let medianValue = child.values[t - 1]
        child.keys.removeSubrange((t - 1)...)
        child.values.removeSubrange((t - 1)...)
        if !child.isLeaf { child.children.removeSubrange(t...) }
        parent.keys.insert(medianKey, at: index)
        parent.values.insert(medianValue, at: index)
        parent.children.insert(sibling, at: index + 1)
    }

    /// Inserts into the subtree of `node`, which is unique and not full.
    private func insert(_ value: Value, forKey key: Key, into node: Node) -> Value? {
        var node = node
        while true {
            var (index, isFound) = node.position(of: key)
            if isFound {
                let replaced = node.values[index]
                node.values[index] = value
                return replaced
            }
            if node.isLeaf {
                node.keys.insert(key, at: index)
                node.values.insert(value, at: index)
                return nil
            }
            if node.children[index].keys.count == keysMax {
                split(child: index, of: node)
                if node.keys[index] == key {
                    let replaced = node.values[index]
                    node.values[index] = value
                    return replaced
                }
                if node.keys[index] < key { index += 1 }
            }
            node = node.uniqueChild(index)
        }
    }

    // MARK: - Removal

    /// Removes `key` from the subtree of `node`, which is unique and (unless it is the root)
    /// holds at least t keys, so one key can leave it without an underflow.
    private func remove(_ key: Key, from node: Node) -> Value? {
        let (index, isFound) = node.position(of: key)
        if node.isLeaf {
            guard isFound else { return nil }
            node.keys.remove(at: index)
            return node.values.remove(at: index)
        }
        if isFound { return removeFromInternal(node, at: index) }
        let childIndex = ensureChildCanLoseKey(node, index)
        return remove(key, from: node.uniqueChild(childIndex))
    }

    /// Removes the key at `index` of the internal `node` (CLRS case 2).
    private func removeFromInternal(_ node: Node, at index: Int) -> Value? {
        let removed = node.values[index]
        let t = minimumDegree
        if node.children[index].keys.count >= t {
            let (key, value) = removeLast(from: node.uniqueChild(index))
            node.keys[index] = key
            node.values[index] = value
        } else if node.children[index + 1].keys.count >= t {
            let (key, value) = removeFirst(from: node.uniqueChild(index + 1))
            node.keys[index] = key
            node.values[index] = value
        } else {
            let key = node.keys[index]
            merge(node, at: index)
            _ = remove(key, from: node.uniqueChild(index))
        }
        return removed
    }

    /// Removes and returns the largest entry of the subtree of `node` (unique, >= t keys).
    private func removeLast(from node: Node) -> (Key, Value) {
        if node.isLeaf {
            let key = node.keys.removeLast()
            return (key, node.values.removeLast())
        }
        let childIndex = ensureChildCanLoseKey(node, node.keys.count)
        return removeLast(from: node.uniqueChild(childIndex))
    }

    /// Removes and returns the smallest entry of the subtree of `node` (unique, >= t keys).
    private func removeFirst(from node: Node) -> (Key, Value) {
        if node.isLeaf {
            let key = node.keys.removeFirst()
            return (key, node.values.removeFirst())
        }
        let childIndex = ensureChildCanLoseKey(node, 0)
        return removeFirst(from: node.uniqueChild(childIndex))
    }

    /// Makes the child at `index` hold at least t keys by borrowing from a sibling or merging
    /// with one (CLRS case 3); returns where the key range of that child now lives.
    private func ensureChildCanLoseKey(_ node: Node, _ index: Int) -> Int {
        let t = minimumDegree
        guard node.children[index].keys.count < t else { return index }
        if index > 0 && node.children[index - 1].keys.count >= t {
            rotateRight(node, into: index)
            return index
        }
        if index < node.keys.count && node.children[index + 1].keys.count >= t {
            rotateLeft(node, into: index)
            return index
        }
        if index < node.keys.count {
            merge(node, at: index)
            return index
        }
        merge(node, at: index - 1)
        return index - 1
    }

    /// Moves the separator at `index - 1` down into child `index` and the left sibling's last
    /// key up in its place.
    private func rotateRight(_ node: Node, into index: Int) {
        let child = node.uniqueChild(index)
        let left = node.uniqueChild(index - 1)
        child.keys.insert(node.keys[index - 1], at: 0)
        child.values.insert(node.values[index - 1], at: 0)
        node.keys[index - 1] = left.keys.removeLast()
        node.values[index - 1] = left.values.removeLast()
        if !left.isLeaf { child.children.insert(left.children.removeLast(), at: 0) }
    }

    /// Moves the separator at `index` down into child `index` and the right sibling's first key
    /// up in its place.
    private func rotateLeft(_ node: Node, into index: Int) {
        let child = node.uniqueChild(index)
        let right = node.uniqueChild(index + 1)
        child.keys.append(node.keys[index])
        child.values.append(node.values[index])
        node.keys[index] = right.keys.removeFirst()
        node.values[index] = right.values.removeFirst()
        if !right.isLeaf { child.children.append(right.children.removeFirst()) }
    }

    /// Merges child `index + 1` and the separator at `index` into child `index`.
    private func merge(_ node: Node, at index: Int) {
        let child = node.uniqueChild(index)
        let right = node.children[index + 1]
        child.keys.append(node.keys.remove(at: index))
        child.values.append(node.values.remove(at: index))
        child.keys.append(contentsOf: right.keys)
        child.values.append(contentsOf: right.values)
        child.children.append(contentsOf: right.children)
        node.children.remove(at: index + 1)
    }

    // MARK: - Scans and checks

    /// Returns false once `body` asked to stop.
    private func visit(_ node: Node, from start: Key?, _ body: (Key, Value) throws -> Bool) rethrows -> Bool {
        let firstIndex = start.map { node.position(of: $0).index } ?? 0
        for index in firstIndex..<node.keys.count {
            if !node.isLeaf {
                // Only the first child visited can hold keys below `start`.
                let childStart = index == firstIndex ? start : nil
                guard try visit(node.children[index], from: childStart, body) else { return false }
            }
            guard try body(node.keys[index], node.values[index]) else { return false }
        }
        if !node.isLeaf {
            let childStart = firstIndex == node.keys.count ? start : nil
            return try visit(node.children[node.keys.count], from: childStart, body)
        }
        return true
    }

    private func check(
        _ node: Node, depth: Int, lower: Key?, upper: Key?, isRoot: Bool, leafDepth: inout Int?, seen: inout Int
    ) -> String? {
        seen += node.keys.count
        if node.keys.count != node.values.count { return "keys and values differ in count" }
        if node.keys.count > keysMax { return "node overfull (\(node.keys.count) keys)" }
        if !isRoot && node.keys.count < minimumDegree - 1 { return "node underfull (\(node.keys.count) keys)" }
        for (position, key) in node.keys.enumerated() {
            if position > 0 && !(node.keys[position - 1] < key) { return "keys not strictly ascending" }
            if let lower, !(lower < key) { return "key below its subtree's range" }
            if let upper, !(key < upper) { return "key above its subtree's range" }
        }
        if node.isLeaf {
            if leafDepth == nil { leafDepth = depth }
            return leafDepth == depth ? nil : "leaves at different depths"
        }
        if node.children.count != node.keys.count + 1 { return "internal node has wrong child count" }
        for (position, child) in node.children.enumerated() {
            let childLower = position == 0 ? lower : node.keys[position - 1]
            let childUpper = position == node.keys.count ? upper : node.keys[position]
            if let violation = check(
                child, depth: depth + 1, lower: childLower, upper: childUpper, isRoot: false,
                leafDepth: &leafDepth, seen: &seen)
            {
                return violation
            }
        }
        return nil
    }
}

/// Nodes are only mutated after `isKnownUniquelyReferenced` proved the mutating map owns them
/// alone (as in the standard library's own collections), so copies may be read on other threads.
extension OrderedMap.Node: @unchecked Sendable where Key: Sendable, Value: Sendable {}
extension OrderedMap: Sendable where Key: Sendable, Value: Sendable {}
