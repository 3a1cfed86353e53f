import Testing

import KVStore
import WRaftSupport

@Suite struct OrderedMapTests {
    @Test func emptyMapHasNothing() {
        let map = OrderedMap<Int, String>()
        #expect(map.isEmpty)
        #expect(map[3] == nil)
        #expect(map.first == nil)
        #expect(map.entries.isEmpty)
        #expect(map.invariantViolation() == nil)
    }

    @Test func insertReplaceAndRemoveReturnOldValues() {
        var map = OrderedMap<Int, String>(minimumDegree: 2)
        #expect(map.updateValue("a", forKey: 1) == nil)
        #expect(map.updateValue("b", forKey: 1) == "a")
        #expect(map.count == 1)
        #expect(map.removeValue(forKey: 2) == nil)
        #expect(map.removeValue(forKey: 1) == "b")
        #expect(map.isEmpty)
        #expect(map.removeValue(forKey: 1) == nil)
    }

    /// Random inserts, replacements and removals checked against a Dictionary after every step,
    /// for small and realistic node sizes, with ordered scans from random keys.
    @Test(arguments: [2, 3, 16])
    func randomOperationsMatchDictionary(minimumDegree: Int) {
        for seed in testSeeds(defaultCount: 10) {
            var generator = SplitMix64(seed: seed)
            var map = OrderedMap<Int, Int>(minimumDegree: minimumDegree)
            var reference: [Int: Int] = [:]
            let keySpace = Int.random(in: 10...2_000, using: &generator)
            for step in 0..<3_000 {
                let key = Int.random(in: 0..<keySpace, using: &generator)
                if Bool.random(using: &generator) || Int.random(in: 0..<4, using: &generator) == 0 {
                    let value = Int.random(in: 0..<1_000_000, using: &generator)
                    let replaced = map.updateValue(value, forKey: key)
                    #expect(replaced == reference.updateValue(value, forKey: key), "seed=\(seed) step=\(step)")
                } else {
                    #expect(map.removeValue(forKey: key) == reference.removeValue(forKey: key), "seed=\(seed) step=\(step)")
                }
                if step % 97 == 0 {
                    guard expectSame(map, reference, generator: &generator, seed: seed) else { return }
                }
            }
            guard expectSame(map, reference, generator: &generator, seed: seed) else { return }
            // Drain it completely: every removal path down to an empty root.
            for key in reference.keys.shuffled(using: &generator) {
                #expect(map.removeValue(forKey: key) != nil, "seed=\(seed)")
            }
            #expect(map.isEmpty, "seed=\(seed)")
            #expect(map.invariantViolation() == nil, "seed=\(seed)")
        }
    }

    /// Returns false after recording a failure, so a broken seed reports once.
    private func expectSame(
        _ map: OrderedMap<Int, Int>, _ reference: [Int: Int], generator: inout SplitMix64, seed: UInt64
    ) -> Bool {
        let violation = map.invariantViolation()
        #expect(violation == nil, "seed=\(seed)")
        let sorted = reference.sorted { $0.key < $1.key }
        let entries = map.entries
        let sameEntries = entries.map(\.key) == sorted.map(\.key) && entries.map(\.value) == sorted.map(\.value)
        #expect(sameEntries, "seed=\(seed)")
        #expect(map.count == reference.count, "seed=\(seed)")
        #expect(map.first?.key == sorted.first?.key, "seed=\(seed)")
        let start = Int.random(in: -5...2_005, using: &generator)
        let limit = Int.random(in: 0...20, using: &generator)
        var scanned: [Int] = []
        map.forEach(from: start) { key, _ in
            guard scanned.count < limit else { return false }
            scanned.append(key)
            return true
        }
        let expected = Array(sorted.map(\.key).filter { $0 >= start }.prefix(limit))
        #expect(scanned == expected, "seed=\(seed) start=\(start)")
        for key in [start, start + 1] {
            #expect(map[key] == reference[key], "seed=\(seed) key=\(key)")
        }
        return violation == nil && sameEntries && scanned == expected
    }

    /// A copy keeps its contents while the original is mutated, and the reverse.
    @Test func copiesAreIndependent() {
        var original = OrderedMap<Int, Int>(minimumDegree: 2)
        for key in 0..<500 { original.updateValue(key, forKey: key) }
        var copy = original
        for key in stride(from: 0, to: 500, by: 2) { original.removeValue(forKey: key) }
        for key in 500..<600 { original.updateValue(key, forKey: key) }
        copy.updateValue(-1, forKey: 7)
        #expect(copy.count == 500)
        #expect(copy.entries.map(\.key) == Array(0..<500))
        #expect(copy[7] == -1)
        #expect(original[7] == 7)
        #expect(original.count == 350)
        #expect(original[0] == nil && copy[0] == 0)
        #expect(original.invariantViolation() == nil)
        #expect(copy.invariantViolation() == nil)
    }

    @Test func scanStopsWhenAsked() {
        var map = OrderedMap<Int, Int>(minimumDegree: 2)
        for key in 0..<100 { map.updateValue(key * 10, forKey: key) }
        var seen: [Int] = []
        map.forEach(from: 42) { key, value in
            #expect(value == key * 10)
            seen.append(key)
            return seen.count < 3
        }
        #expect(seen == [42, 43, 44])
        seen = []
        map.forEach(from: 1_000) { key, _ in
            seen.append(key)
            return true
        }
        #expect(seen.isEmpty)
    }
}
