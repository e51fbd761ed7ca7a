import Logging
import ParleyDomain

extension MediaStore {
    /// Whether an image stored for a write that then failed with `error` may be deleted.
    ///
    /// Not when the database did not answer in time (`store_unavailable`): the store stops
    /// waiting for a query at its deadline, but postgres-nio cannot stop one already sent, so the
    /// write may still commit afterwards, and then it refers to the image. Keeping the image costs
    /// an orphan at worst; deleting it could leave a saved message or profile pointing at nothing.
    static func mayDeleteImage(ofWriteThatFailedWith error: any Error) -> Bool {
        (error as? ParleyError)?.kind != .unavailable
    }

    /// Deletes `mediaID`, stored for a write that failed with `error`, unless the write may still
    /// commit (``mayDeleteImage(ofWriteThatFailedWith:)``), in which case it is logged and kept. A
    /// failed delete is logged too.
    func discard(_ mediaID: String, ofWriteThatFailedWith error: any Error, logger: Logger) async {
        guard Self.mayDeleteImage(ofWriteThatFailedWith: error) else {
            logger.warning(
                "Kept an image whose write timed out: the write may still have been saved",
                metadata: ["media.id": "\(mediaID)", "error": "\(error)"])
            return
        }
        do {
            try await delete(mediaID)
        } catch {
            logger.warning(
                "Could not delete an unused image", metadata: ["media.id": "\(mediaID)", "error": "\(error)"])
        }
    }
}
