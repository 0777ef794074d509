import DPO
import Foundation
import Testing
@testable import Training

/// `loss_type` (one name, a YAML list or a comma-separated list), `loss_weights`, `reference_free`, the loss options
/// (`f_divergence_type`, `f_alpha_divergence_coef`, `discopop_tau`, `ld_alpha`, `use_weighting`) and the checks that
/// tie them together.
@Suite struct LossConfigTests {
    private func load(_ yaml: String, _ overrides: [String] = []) throws -> TrainingConfig {
        try ConfigLoader.load(file: try writeConfig(yaml), overrides: overrides)
    }

    private func writeConfig(_ text: String) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("dpo-loss-config-\(UUID().uuidString).yaml")
        try text.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    /// The error message of a config that must be refused.
    private func failure(_ yaml: String, _ overrides: [String] = []) throws -> String {
        failure(path: try writeConfig(yaml), overrides)
    }

    private func failure(path: String, _ overrides: [String] = []) -> String {
        do {
            _ = try ConfigLoader.load(file: path, overrides: overrides)
        } catch {
            return "\(error)"
        }
        Issue.record("accepted: \(path) \(overrides)")
        return ""
    }

    @Test func defaultIsSigmoidWithAReference() throws {
        let config = try load("max_length: 512\n")
        #expect(config.lossTypes == [.sigmoid] && config.lossWeights == nil && !config.referenceFree)
        #expect(config.dpoLoss == DPOLoss(beta: 0.1))
    }

    @Test func singleNameYAMLListsAndCommandLineListsAllParse() throws {
        #expect(try load("loss_type: ipo\n").lossTypes == [.ipo])
        let block = try load("loss_type:\n  - sigmoid\n  - sft\nloss_weights:\n  - 0.8\n  - 0.2\n")
        #expect(block.lossTypes == [.sigmoid, .sft] && block.lossWeights == [0.8, 0.2])
        let flow = try load("loss_type: [apo_zero, exo_pair, nca_pair]\nlabel_smoothing: 0.001\n")
        #expect(flow.lossTypes == [.apoZero, .exoPair, .ncaPair])
        let commandLine = try load("loss_type: hinge\n", ["--loss_type", "sigmoid, sppo_hard", "--loss_weights=1,0.5",
                                                          "--reference_free", "true"])
        #expect(commandLine.lossTypes == [.sigmoid, .sppoHard] && commandLine.lossWeights == [1, 0.5])
        #expect(commandLine.referenceFree)
        // Every loss type of TRL 1.16.
        #expect(Set(DPOLossType.allCases.map(\.rawValue)) == ["sigmoid", "hinge", "ipo", "exo_pair", "nca_pair", "robust",
                                                             "bco_pair", "sppo_hard", "aot", "aot_unpaired", "apo_zero",
                                                             "apo_down", "discopop", "sft", "sigmoid_norm"])
    }

    @Test func configBuildsTheWeightedLoss() throws {
        let config = try load("beta: 0.3\nlabel_smoothing: 0.1\nloss_type: [robust, sft]\nloss_weights: [1, 0.25]\nreference_free: yes\n")
        #expect(config.dpoLoss == DPOLoss(beta: 0.3, labelSmoothing: 0.1,
                                          terms: [WeightedLossTerm(.robust), WeightedLossTerm(.sft, weight: 0.25)],
                                          referenceFree: true))
        let unweighted = try load("loss_type: [ipo, hinge]\n")
        #expect(unweighted.dpoLoss.terms.map(\.weight) == [1, 1])
    }

    @Test func lossOptionsReachTheLoss() throws {
        let config = try load("loss_type: [discopop, sigmoid_norm]\nf_divergence_type: alpha_divergence\n"
            + "f_alpha_divergence_coef: 0.3\ndiscopop_tau: 0.1\n")
        #expect(config.dpoLoss == DPOLoss(beta: 0.1, terms: [WeightedLossTerm(.discopop), WeightedLossTerm(.sigmoidNorm)],
                                          divergence: .alphaDivergence, alphaDivergenceCoefficient: 0.3, discopopTau: 0.1))
        let defaults = try load("loss_type: aot\n").dpoLoss
        #expect(defaults.divergence == .reverseKL && defaults.alphaDivergenceCoefficient == 0.5 && defaults.discopopTau == 0.05)
        #expect(try load("", ["--f_divergence_type", "js_divergence", "--loss_type", "ipo,sft"]).fDivergenceType == .jsDivergence)
        let weighted = try load("ld_alpha: 0.4\nuse_weighting: true\nprecompute_ref_batch_size: 16\n")
        #expect(weighted.dpoLoss == DPOLoss(beta: 0.1, verboseTailWeight: 0.4, wpoWeighting: true))
        #expect(weighted.precomputeRefBatchSize == 16)
        let unset = try load("ld_alpha: null\n")
        #expect(unset.ldAlpha == nil && !unset.useWeighting && unset.precomputeRefBatchSize == nil)
    }

    @Test func weightingOptionsRefuseBadValuesAndTheSortingLosses() throws {
        let cases: [(String, String)] = [
            ("ld_alpha: 1.5\n", "`ld_alpha` must be at most 1.0, got 1.5"),
            ("ld_alpha: -0.1\n", "`ld_alpha` must be at least 0.0, got -0.1"),
            ("use_weighting: often\n", "`use_weighting` must be true or false, got \"often\""),
            ("precompute_ref_batch_size: 0\n", "`precompute_ref_batch_size` must be at least 1, got 0"),
            ("loss_type: [sigmoid, aot_unpaired]\nuse_weighting: true\n",
             "`use_weighting` cannot weight `loss_type` aot_unpaired: it matches the pairs of a micro-batch by rank"),
        ]
        for (yaml, expected) in cases {
            let message = try failure(yaml)
            #expect(message.contains(expected), "\(message)")
        }
    }

    /// TRL refuses an f-divergence with the loss types that read single log-ratios; so do we, naming them.
    @Test func fDivergenceNeedsLossTypesThatHaveItsForm() throws {
        let message = try failure("loss_type: [sigmoid, nca_pair, aot]\nf_divergence_type: forward_kl\n")
        #expect(message.contains("`f_divergence_type` forward_kl does not apply to `loss_type` nca_pair, aot: only sigmoid, "
            + "hinge, ipo, sigmoid_norm, robust, exo_pair, discopop, sft have an f-divergence form"), "\(message)")
        #expect(try load("loss_type: [nca_pair, aot]\nf_divergence_type: reverse_kl\n").lossTypes == [.ncaPair, .aot])
        let cases: [(String, String)] = [
            ("f_divergence_type: kl\n", "`f_divergence_type` must be one of reverse_kl, forward_kl, js_divergence, "
                + "alpha_divergence, got \"kl\""),
            ("discopop_tau: 0\n", "`discopop_tau` must be greater than 0.0, got 0.0"),
            ("f_alpha_divergence_coef: strong\n", "`f_alpha_divergence_coef` must be a number, got \"strong\""),
        ]
        for (yaml, expected) in cases {
            let message = try failure(yaml)
            #expect(message.contains(expected), "\(message)")
        }
    }

    @Test func unknownLossNameNamesKeyPlaceAndTheName() throws {
        let path = try writeConfig("beta: 0.1\nloss_type: [sigmoid, dpo_plus]\n")
        let fromFile = failure(path: path)
        #expect(fromFile.contains("\(path):2"), "\(fromFile)")
        #expect(fromFile.contains("`loss_type` must be one of sigmoid, hinge, ipo"), "\(fromFile)")
        #expect(fromFile.contains("got \"dpo_plus\""), "\(fromFile)")
        let commandLine = try failure("beta: 0.1\n", ["--loss_type", "sigmoid,sft,kto"])
        #expect(commandLine.contains("command line --loss_type: `loss_type` must be one of"), "\(commandLine)")
        #expect(commandLine.contains("got \"kto\""), "\(commandLine)")
    }

    @Test func badListsAndValuesNameTheKey() throws {
        let cases: [(String, [String], String)] = [
            ("loss_type: []\n", [], "`loss_type` must list at least one value"),
            ("loss_type: [sigmoid, [ipo]]\n", [], "`loss_type` must be a list of plain values"),
            ("loss_weights: [1, heavy]\nloss_type: [sigmoid, sft]\n", [], "`loss_weights` must be a number, got \"heavy\""),
            ("loss_weights: [-1]\n", [], "`loss_weights` must be at least 0.0"),
            ("reference_free: maybe\n", [], "`reference_free` must be true or false"),
            ("beta: 0.1\n", ["--loss_type", "sigmoid,,sft"], "`loss_type` must be one of"),
        ]
        for (yaml, overrides, expected) in cases {
            let message = try failure(yaml, overrides)
            #expect(message.contains(expected), "\(message)")
        }
    }

    @Test func weightCountMustMatchLossCount() throws {
        let message = try failure("loss_type: [sigmoid, sft]\nloss_weights: [1, 0.5, 2]\n")
        #expect(message.contains("`loss_weights` has 3 weight(s) but `loss_type` names 2 loss(es)"), "\(message)")
        let commandLine = try failure("loss_type: sigmoid\n", ["--loss_weights", "1,1"])
        #expect(commandLine.contains("`loss_weights` has 2 weight(s) but `loss_type` names 1 loss(es)"), "\(commandLine)")
    }

    @Test func labelSmoothingMustSuitExoAndRobust() throws {
        let exo = try failure("loss_type: exo_pair\n")
        #expect(exo.contains("`loss_type` exo_pair needs `label_smoothing` above 0"), "\(exo)")
        let robust = try failure("loss_type: [sigmoid, robust]\nlabel_smoothing: 0.5\n")
        #expect(robust.contains("`loss_type` robust needs `label_smoothing` below 0.5"), "\(robust)")
        #expect(try load("loss_type: sigmoid\nlabel_smoothing: 0.5\n").labelSmoothing == 0.5)
    }
}
