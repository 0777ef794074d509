import Foundation
import PreferenceData
import DPO

public enum TrainingErrors {
    /// Errors caused by the user's input (found the same way on every rank).
    public static func isInputError(_ error: Error) -> Bool {
        error is ConfigError || error is DataError
    }
}

extension TrainingReport {
    /// The end-of-run table: preference accuracy and reward margins on train and held-out pairs, before and after.
    public var summary: String {
        var lines = ["", "summary after \(steps) steps          before     after"]
        func add(_ split: String, _ before: PreferenceMetricSums?, _ after: PreferenceMetricSums?) {
            guard let before, let after, before.pairs > 0 else { return }
            func row(_ label: String, _ value: (PreferenceMetricSums) -> Double, _ format: String) {
                let name = "\(split) \(label)".padding(toLength: 32, withPad: " ", startingAt: 0)
                lines.append(name + String(format: "%9" + format + " %9" + format, value(before), value(after)))
            }
            row("prefers chosen", { $0.chosenMoreLikely / $0.pairs }, ".3f")
            row("rewards/accuracies", { $0.correct / $0.pairs }, ".3f")
            row("rewards/margins", { ($0.chosenRewards - $0.rejectedRewards) / $0.pairs }, ".4f")
            row("loss", { $0.loss / $0.pairs }, ".4f")
        }
        add("train", before.train, after.train)
        add("held-out", before.heldOut, after.heldOut)
        lines.append("(prefers chosen: the policy gives the chosen reply a higher mean per-token log-prob than the rejected one;")
        lines.append(" rewards are β·log π/π_ref, zero before training since the policy starts as the reference)")
        return lines.joined(separator: "\n")
    }
}
