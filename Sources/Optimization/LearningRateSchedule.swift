import Foundation

/// Learning-rate schedules as Hugging Face `transformers` defines them (`get_scheduler`), so that the
/// same `lr_scheduler_type`, `warmup_steps` and `max_steps` give the same rate at every step.
public struct LearningRateSchedule: Sendable, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        case linear, cosine, constant
        case constantWithWarmup = "constant_with_warmup"
    }

    public var kind: Kind
    public var peak: Double
    public var warmupSteps: Int
    public var totalSteps: Int

    public init(kind: Kind, peak: Double, warmupSteps: Int, totalSteps: Int) {
        self.kind = kind
        self.peak = peak
        self.warmupSteps = warmupSteps
        self.totalSteps = totalSteps
    }

    /// The rate for optimizer update number `step`, counted from 0 (the scheduler's `current_step`).
    public func rate(at step: Int) -> Double {
        if kind != .constant, step < warmupSteps {
            return peak * Double(step) / Double(max(1, warmupSteps))
        }
        switch kind {
        case .constant, .constantWithWarmup:
            return peak
        case .linear:
            return peak * max(0, Double(totalSteps - step) / Double(max(1, totalSteps - warmupSteps)))
        case .cosine:
            let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
            return peak * max(0, 0.5 * (1 + cos(Double.pi * progress)))
        }
    }
}
