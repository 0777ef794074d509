import Testing
import Optimization

@Suite struct LearningRateScheduleTests {
    /// Values of transformers' get_linear_schedule_with_warmup / get_cosine_schedule_with_warmup.
    @Test func linearWithWarmup() {
        let schedule = LearningRateSchedule(kind: .linear, peak: 1, warmupSteps: 2, totalSteps: 10)
        #expect([0, 1, 2, 6, 10, 11].map(schedule.rate(at:)) == [0, 0.5, 1, 0.5, 0, 0])
    }

    @Test func cosineWithWarmup() {
        let schedule = LearningRateSchedule(kind: .cosine, peak: 2, warmupSteps: 2, totalSteps: 10)
        #expect(schedule.rate(at: 1) == 1)
        #expect(schedule.rate(at: 2) == 2)
        #expect(abs(schedule.rate(at: 6) - 1) < 1e-12)
        #expect(abs(schedule.rate(at: 10)) < 1e-12)
    }

    @Test func constantKinds() {
        #expect(LearningRateSchedule(kind: .constant, peak: 3, warmupSteps: 5, totalSteps: 10).rate(at: 0) == 3)
        let warm = LearningRateSchedule(kind: .constantWithWarmup, peak: 3, warmupSteps: 3, totalSteps: 10)
        #expect(warm.rate(at: 0) == 0 && warm.rate(at: 1) == 1 && warm.rate(at: 9) == 3)
    }
}
