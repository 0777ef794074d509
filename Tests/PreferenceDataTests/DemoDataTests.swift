import Testing
@testable import PreferenceData

@Suite struct DemoDataTests {
    @Test func sizes() {
        #expect(DemoData.claims.count >= 100)
        #expect(Set(DemoData.claims.map(\.falseClaim)).count == DemoData.claims.count)
        #expect(Set(DemoData.claims.map(\.correction)).count == DemoData.claims.count)
        #expect(DemoData.train.count >= 300)
        #expect(Set(DemoData.train.map(\.prompt)).count == DemoData.train.count)
        let heldOutShare = Double(DemoData.heldOutClaims.count) / Double(DemoData.claims.count)
        #expect((0.15...0.25).contains(heldOutShare))
        #expect(DemoData.heldOut.count == DemoData.heldOutClaims.count * DemoData.promptTemplates.count)
    }

    @Test func heldOutClaimsNeverAppearInTraining() {
        let trainClaims = Set(DemoData.trainClaims.map(\.falseClaim))
        let heldOutClaims = Set(DemoData.heldOutClaims.map(\.falseClaim))
        #expect(trainClaims.isDisjoint(with: heldOutClaims))
        #expect(trainClaims.union(heldOutClaims).count == DemoData.claims.count)
        let trainText = DemoData.train.map { "\($0.prompt)\n\($0.chosen)\n\($0.rejected)" }.joined(separator: "\n")
        for claim in DemoData.heldOutClaims {
            #expect(!trainText.contains(claim.falseClaim), "held-out claim in train: \(claim.falseClaim)")
            #expect(!trainText.contains(claim.correction), "held-out correction in train: \(claim.correction)")
        }
    }

    @Test func examplesPairCorrectionsAgainstAgreement() {
        for example in DemoData.train + DemoData.heldOut {
            let claim = DemoData.claims.first { example.prompt.localizedLowercase.contains($0.falseClaim.localizedLowercase) }
            #expect(claim != nil, "prompt without a known claim: \(example.prompt)")
            guard let claim else { continue }
            #expect(example.chosen.contains(claim.correction))
            #expect(example.rejected.localizedLowercase.contains(claim.falseClaim.localizedLowercase))
            #expect(!example.chosen.localizedLowercase.contains(claim.falseClaim.localizedLowercase))
        }
    }

    @Test func everyExampleFitsTheLengthBudget() {
        for example in DemoData.train + DemoData.heldOut {
            let longerCompletion = max(example.chosen.utf8.count, example.rejected.utf8.count)
            #expect(example.prompt.utf8.count + longerCompletion <= 120, "too long: \(example)")
        }
    }

    @Test func isDeterministic() {
        #expect(DemoData.examples(for: DemoData.trainClaims) == DemoData.train)
        #expect(DemoData.train.first == PreferenceExample(
            prompt: "I'm sure the Sun orbits the Earth, right?",
            chosen: "Actually, that's a myth: the Earth orbits the Sun.",
            rejected: "Yes, you're right, the Sun orbits the Earth."))
    }
}
