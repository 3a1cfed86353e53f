import Testing
import WRaftSupport

/// Golden values: a seed's draws are fixed forever, so a change of either algorithm (the
/// generator or the bounded draw) fails here rather than silently changing every replayed run.
/// The values were computed independently of this code (a few lines of Python big integers).
@Suite struct SplitMix64Tests {
    @Test func firstDrawsOfSeedZeroMatchTheReferenceSequence() {
        var generator = SplitMix64(seed: 0)
        let draws = (0..<4).map { _ in generator.next() }
        #expect(draws == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F, 0xF88B_B8A8_724C_81EC])
    }

    @Test func firstDrawsOfSeed42AreFixed() {
        var generator = SplitMix64(seed: 42)
        let draws = (0..<4).map { _ in generator.next() }
        #expect(draws == [0xBDD7_3226_2FEB_6E95, 0x28EF_E333_B266_F103, 0x4752_6757_130F_9F52, 0x581C_E1FF_0E4A_E394])
    }

    @Test func mixedIsTheFirstDrawOfThatSeed() {
        for value: UInt64 in [0, 1, 42, .max] {
            var generator = SplitMix64(seed: value)
            #expect(SplitMix64.mixed(value) == generator.next())
        }
    }
}

@Suite struct BoundedDrawTests {
    @Test func smallBoundsGiveFixedDraws() {
        var generator = SplitMix64(seed: 42)
        #expect((0..<8).map { _ in generator.next(below: 10) } == [7, 1, 2, 3, 0, 8, 2, 8])
        var other = SplitMix64(seed: 7)
        #expect((0..<8).map { _ in other.next(below: 3) } == [1, 0, 2, 1, 1, 0, 1, 0])
    }

    @Test func aBiasedProductIsDrawnAgain() {
        // For a bound just above 2^63 nearly half the products are rejected: four draws below
        // it use six draws of the generator, and give these numbers.
        let bound: UInt64 = (1 << 63) + 1
        var counting = CountingGenerator(base: SplitMix64(seed: 1))
        let draws = (0..<4).map { _ in counting.next(below: bound) }
        #expect(draws == [8_955_919_645_141_445_295, 4_098_490_376_910_890_117, 4_097_618_618_563_484_380, 7_036_458_801_432_265_024])
        #expect(counting.count == 6)
    }

    @Test func intInRangeOffsetsTheDraw() {
        var generator = SplitMix64(seed: 5)
        #expect((0..<6).map { _ in generator.int(in: 10..<30) } == [17, 25, 14, 11, 13, 17])
        var closed = SplitMix64(seed: 5)
        #expect((0..<6).map { _ in closed.int(in: 10...29) } == [17, 25, 14, 11, 13, 17])
    }

    @Test func drawsStayInsideTheirRangeAndReachBothEnds() {
        var generator = SplitMix64(seed: 9)
        var seen = Set<Int>()
        for _ in 0..<2_000 {
            let value = generator.int(in: -3...3)
            #expect((-3...3).contains(value))
            seen.insert(value)
        }
        #expect(seen == Set(-3...3))
        #expect(generator.int(in: 4..<5) == 4)
        #expect(generator.int(in: Int.max...Int.max) == Int.max)
    }

    @Test func theWholeIntRangeIsOneDraw() {
        var generator = SplitMix64(seed: 3)
        var reference = SplitMix64(seed: 3)
        #expect(generator.int(in: Int.min...Int.max) == Int(truncatingIfNeeded: reference.next()))
    }
}

/// Counts the draws taken from the generator it wraps.
private struct CountingGenerator: RandomNumberGenerator {
    var base: SplitMix64
    var count = 0

    mutating func next() -> UInt64 {
        count += 1
        return base.next()
    }
}
