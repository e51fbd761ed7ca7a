import ParleyDomain
import Testing

@testable import ParleyChat

/// An image stored for a write that failed is deleted, unless the write may still commit.
@Suite("Images of failed writes")
struct MediaCleanupTests {
    @Test func keepsTheImageOfAWriteThatTimedOut() {
        // The store answered 503 at its deadline; the query may still commit (DeadlineWatchdog).
        #expect(
            !LocalDiskMediaProbe.mayDelete(after: ParleyError.storeUnavailable("The database did not answer in time")))
        #expect(!LocalDiskMediaProbe.mayDelete(after: ParleyError.storeUnavailable()))
    }

    @Test func deletesTheImageOfAWriteThatWasRefused() {
        #expect(LocalDiskMediaProbe.mayDelete(after: ParleyError.emailTaken))
        #expect(LocalDiskMediaProbe.mayDelete(after: ParleyError.userNotFound))
        #expect(LocalDiskMediaProbe.mayDelete(after: CancellationError()))
    }
}

/// Any media store; only the static rule is exercised.
private enum LocalDiskMediaProbe {
    static func mayDelete(after error: any Error) -> Bool {
        NoMedia.mayDeleteImage(ofWriteThatFailedWith: error)
    }

    struct NoMedia: MediaStore {
        func store(_ image: ImageUpload, purpose: MediaPurpose) async throws -> MediaReference {
            throw ParleyError.storeUnavailable()
        }
        func delete(_ mediaID: String) async throws {}
        var displayName: String { "none" }
    }
}
