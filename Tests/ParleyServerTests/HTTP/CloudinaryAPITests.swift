import Foundation
import HTTPTypes
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

/// Images through the HTTP API with Cloudinary configured, against ``FakeCloudinary``.
@Suite("HTTP: images on Cloudinary")
struct CloudinaryAPITests {
    static func withCloudinaryApp(
        _ kind: StoreKind = .sqlite,
        extra: [String: String] = [:],
        secret: String = FakeCloudinary.apiSecret,
        _ body: @escaping @Sendable (TestAPI, FakeCloudinary) async throws -> Void
    ) async throws {
        try await FakeCloudinary.run { fake in
            let url =
                "cloudinary://\(FakeCloudinary.apiKey):\(secret)@\(FakeCloudinary.cloudName)?upload_prefix=\(fake.uploadPrefix)"
            try await withApp(
                kind, configuration: ["CLOUDINARY_URL": url, "LOG_LEVEL": "critical"].merging(extra) { $1 }
            ) {
                api in
                try await body(api, fake)
            }
        }
    }

    static let cloudinaryPrefix = "https://res.cloudinary.com/\(FakeCloudinary.cloudName)/image/upload/"

    @Test(arguments: StoreKind.available)
    func avatarsGoToCloudinaryAndAReplacedOneIsDestroyed(kind: StoreKind) async throws {
        try await Self.withCloudinaryApp(kind, extra: ["CLOUDINARY_FOLDER": "/chat/avatars/"]) { api, fake in
            let session = try await api.signUp(avatar: TestImages.dataURI(TestImages.png))
            let check = try await api.request(.get, "/api/auth/check", headers: session.cookie)
            let first = try #require(check.object["avatar"] as? String)
            #expect(first.hasPrefix(Self.cloudinaryPrefix))
            let firstID = try #require(fake.uploads.first?.publicID)
            #expect(firstID.hasPrefix("chat/avatars/avatar-"))
            #expect(first.contains(firstID))

            // Replaced with a multipart file part: the old asset is destroyed after the save.
            let updated = try await api.multipart(
                .put, "/api/auth/update", fields: [("name", "Ann B")], file: ("file", TestImages.webp),
                headers: session.cookie)
            #expect(updated.status == .ok, "\(updated.text)")
            let second = try #require(updated.object["avatar"] as? String)
            #expect(second.hasPrefix(Self.cloudinaryPrefix) && second != first)
            #expect(updated.object["name"] as? String == "Ann B")
            #expect(fake.destroyed == [firstID])
            #expect(fake.uploads.map(\.bytes) == [TestImages.webp])

            // Removing the avatar destroys it too.
            let removed = try await api.request(.put, "/api/auth/update", json: ["avatar": ""], headers: session.cookie)
            #expect(removed.object["avatar"] as? String == "")
            #expect(fake.destroyed.count == 2)
            #expect(fake.uploads.isEmpty)
        }
    }

    @Test func imageMessagesGoToCloudinary() async throws {
        try await Self.withCloudinaryApp { api, fake in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let sent = try await api.multipart(
                .post, "/api/message", fields: [("to", bob.id), ("text", "look")], file: ("file", TestImages.jpeg),
                headers: ann.cookie)
            #expect(sent.status == .created, "\(sent.text)")
            let image = try #require(sent.object["image"] as? String)
            #expect(image.hasPrefix(Self.cloudinaryPrefix))
            #expect(sent.object["text"] as? String == "look")
            #expect(fake.uploads.first?.bytes == TestImages.jpeg)
            #expect(fake.uploads.first?.publicID.hasPrefix("message-") == true)

            let page = try await api.request(.get, "/api/message/\(bob.id)", headers: ann.cookie)
            #expect(page.array.first?["image"] as? String == image)
        }
    }

    @Test func deletingAnImageMessageDestroysItsAsset() async throws {
        try await Self.withCloudinaryApp { api, fake in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let sent = try await api.request(
                .post, "/api/message", json: ["to": bob.id, "image": TestImages.dataURI(TestImages.png)],
                headers: ann.cookie)
            let id = try #require(sent.object["_id"] as? String)
            let publicID = try #require(fake.uploads.first?.publicID)
            let deleted = try await api.request(.delete, "/api/message/\(id)", headers: ann.cookie)
            #expect(deleted.status == .ok)
            #expect(deleted.object["image"] == nil)
            #expect(fake.destroyed == [publicID])
            // Twice: nothing more to destroy.
            try await api.request(.delete, "/api/message/\(id)", headers: ann.cookie)
            #expect(fake.destroyed == [publicID])
        }
    }

    @Test func rejectedCredentialsAre502AndNothingIsSaved() async throws {
        try await Self.withCloudinaryApp(secret: "the-wrong-secret") { api, fake in
            let email = "ann-\(UUID().uuidString.prefix(6))@example.com"
            let reply = try await api.request(
                .post, "/api/auth/signup",
                json: [
                    "name": "Ann", "email": email, "password": "secret1", "avatar": TestImages.dataURI(TestImages.png),
                ])
            #expect(reply.status == .badGateway)
            #expect(reply.code == "cloudinary_rejected")
            #expect((reply.object["message"] as? String)?.contains("Cloudinary") == true)
            #expect(!reply.text.contains("the-wrong-secret"))
            // The account was not created: the same email signs up (without an image) afterwards.
            let retry = try await api.request(
                .post, "/api/auth/signup", json: ["name": "Ann", "email": email, "password": "secret1"])
            #expect(retry.status == .created)
            #expect(fake.uploads.isEmpty)
        }
    }

    @Test func aFileCloudinaryRefusesIs502WithItsMessageAndNoMessageIsSaved() async throws {
        try await Self.withCloudinaryApp { api, fake in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            fake.script(.status(400, message: "File size too large. Got 9000000. Maximum is 10485760."))
            let reply = try await api.request(
                .post, "/api/message", json: ["to": bob.id, "image": TestImages.dataURI(TestImages.gif)],
                headers: ann.cookie)
            #expect(reply.status == .badGateway)
            #expect(reply.code == "cloudinary_rejected")
            #expect((reply.object["message"] as? String)?.contains("File size too large") == true)
            let page = try await api.request(.get, "/api/message/\(bob.id)", headers: ann.cookie)
            #expect(page.array.isEmpty)
        }
    }

    @Test func serverErrorsAreRetried() async throws {
        try await Self.withCloudinaryApp { api, fake in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            fake.script(.status(500, message: "General Error"), .status(503, message: nil))
            let reply = try await api.request(
                .post, "/api/message", json: ["to": bob.id, "image": TestImages.dataURI(TestImages.png)],
                headers: ann.cookie)
            #expect(reply.status == .created, "\(reply.text)")
            #expect(fake.requestCount == 3)
        }
    }

    @Test func persistentServerErrorsAre502() async throws {
        try await Self.withCloudinaryApp(extra: ["CLOUDINARY_MAX_ATTEMPTS": "2"]) { api, fake in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            fake.script(.status(500, message: "General Error"), .status(500, message: "General Error"))
            let reply = try await api.request(
                .post, "/api/message", json: ["to": bob.id, "image": TestImages.dataURI(TestImages.png)],
                headers: ann.cookie)
            #expect(reply.status == .badGateway)
            #expect(reply.code == "cloudinary_unavailable")
            #expect(fake.requestCount == 2)
        }
    }

    @Test func aSlowCloudinaryIs504() async throws {
        try await Self.withCloudinaryApp(extra: ["CLOUDINARY_TIMEOUT_MS": "300"]) { api, fake in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            fake.script(.delay(.seconds(2)))
            let reply = try await api.request(
                .post, "/api/message", json: ["to": bob.id, "text": "hi", "image": TestImages.dataURI(TestImages.png)],
                headers: ann.cookie)
            #expect(reply.status == .gatewayTimeout)
            #expect(reply.code == "cloudinary_timeout")
            let page = try await api.request(.get, "/api/message/\(bob.id)", headers: ann.cookie)
            #expect(page.array.isEmpty)
        }
    }

    @Test func aFailedDestroyDoesNotFailTheUpdate() async throws {
        try await Self.withCloudinaryApp(extra: ["CLOUDINARY_MAX_ATTEMPTS": "1"]) { api, fake in
            let session = try await api.signUp(avatar: TestImages.dataURI(TestImages.png))
            let firstID = try #require(fake.uploads.first?.publicID)
            // The new avatar's upload passes; the destroy of the old one fails.
            fake.script(.pass, .status(500, message: "General Error"))
            let updated = try await api.request(
                .put, "/api/auth/update", json: ["avatar": TestImages.dataURI(TestImages.gif)], headers: session.cookie)
            #expect(updated.status == .ok)
            #expect((updated.object["avatar"] as? String)?.contains(firstID) == false)
            #expect(fake.destroyed.isEmpty)
        }
    }
}
