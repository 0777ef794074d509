import Foundation
import Diagnostics
import PreferenceData
import DPO

extension TrainingReport {
    /// The end-of-run table: the task's summary metrics on the training and held-out sets, before and after.
    public var summary: String {
        var lines = ["", "summary after \(steps) steps          before     after"]
        func add(_ split: String, _ before: MetricWindow?, _ after: MetricWindow?) {
            guard let before, let after, before.microBatches > 0 else { return }
            for (metric, format) in metrics {
                let name = "\(split) \(metric)".padding(toLength: 32, withPad: " ", startingAt: 0)
                lines.append(name + String(format: "%9" + format + " %9" + format, before[metric] ?? 0, after[metric] ?? 0))
            }
        }
        add("train", before.train, after.train)
        add("held-out", before.heldOut, after.heldOut)
        if metrics.contains(where: { $0.name == "prefers_chosen" }) {
            lines.append("(prefers_chosen: the policy gives the chosen reply a higher mean per-token log-prob than the rejected one;")
            lines.append(" rewards are β·log π/π_ref, zero before training since the policy starts as the reference)")
        }
        return lines.joined(separator: "\n")
    }
}
