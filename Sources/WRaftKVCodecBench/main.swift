// The per-write KVStore work of a node, without the runtime: a write's command encoded (the node
// that takes the HTTP request), then decoded and applied (every replica). Synchronous on purpose
// (no async main, no libdispatch signal thread), so it runs under valgrind:
//   valgrind --tool=callgrind .build/release/wraft-kvcodec-bench 20000
// bench/callgrind-per-write.sh runs it and prints instructions per write.
import KVStore
import RaftCore

#if canImport(Glibc)
import Glibc
#endif

/// How many writes one run may ask for (the argument is range-checked, never trusted).
let writesRange = 1...10_000_000
let argument = CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "20000"
guard let writes = Int(argument), writesRange.contains(writes) else {
    print("wraft-kvcodec-bench: the number of writes must be an integer in \(writesRange.lowerBound)...\(writesRange.upperBound), got '\(argument)'")
    exit(2)
}
let value = [UInt8](repeating: UInt8(ascii: "v"), count: 256)

@inline(never)
func encode(_ sequence: UInt64) -> [UInt8] {
    let key = Array("bench-\(sequence % 1_000)".utf8)
    let id = ClientRequestID(client: 0x1234_5678_0000_0000, sequence: sequence)
    return KVCommand(id: id, operation: .put(key: key, value: value, condition: .none)).encoded()
}

@inline(never)
func apply(_ data: [UInt8], index: UInt64, to store: inout KVStore) -> Bool {
    store.apply(Entry(term: Term(1), index: LogIndex(index), data: data)) != nil
}

var store = KVStore()
var applied = 0
for sequence in 1...UInt64(writes) {
    if apply(encode(sequence), index: sequence, to: &store) { applied += 1 }
}
print("\(applied) writes encoded, decoded and applied")
