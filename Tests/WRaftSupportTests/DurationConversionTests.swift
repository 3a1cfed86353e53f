import Testing
import WRaftSupport

@Suite struct DurationConversionTests {
    @Test func wholeUnitsTruncateTowardZero() {
        let duration = Duration.seconds(2) + .nanoseconds(999_999_999)
        #expect(duration.inNanoseconds == 2_999_999_999)
        #expect(duration.inMilliseconds == 2_999)
        #expect(Duration.microseconds(1_500).inMilliseconds == 1)
        #expect(Duration.nanoseconds(999_999).inMilliseconds == 0)
        #expect(Duration.zero.inNanoseconds == 0)
    }

    @Test func negativeDurationsTruncateTowardZeroToo() {
        let duration = Duration.zero - .milliseconds(1_500) - .nanoseconds(7)
        #expect(duration.inNanoseconds == -1_500_000_007)
        #expect(duration.inMilliseconds == -1_500)
        #expect((Duration.zero - .microseconds(999)).inMilliseconds == 0)
    }

    @Test func outOfRangeValuesSaturateInsteadOfTrapping() {
        let long = Duration.seconds(Int64.max / 1_000)
        #expect(long.inNanoseconds == .max)
        #expect(long.inMilliseconds == Int64.max / 1_000 * 1_000)
        #expect(Duration.seconds(Int64.max).inMilliseconds == .max)
        #expect((Duration.zero - .seconds(Int64.max)).inNanoseconds == .min)
    }

    @Test func fractionalValuesKeepTheFraction() {
        let duration = Duration.milliseconds(1_250) + .microseconds(500)
        #expect(duration.inSeconds == 1.2505)
        #expect(duration.inFractionalMilliseconds == 1_250.5)
        #expect(Duration.nanoseconds(1).inSeconds == 1e-9)
    }

    @Test func convertingBackGivesTheWholeUnits() {
        for milliseconds: Int64 in [0, 1, 999, 1_000, 86_400_000] {
            #expect(Duration.milliseconds(milliseconds).inMilliseconds == milliseconds)
            #expect(Duration.nanoseconds(milliseconds).inNanoseconds == milliseconds)
        }
    }
}
