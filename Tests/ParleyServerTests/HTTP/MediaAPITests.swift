import Foundation
import HTTPTypes
import NIOCore
import ParleyChat
import ParleyDomain
import Testing

@testable import ParleyTesting

@Suite("HTTP: images on local disk")
struct MediaAPITests {
    @Test(arguments: StoreKind.available)
    func avatarsAreStoredServedAndReplaced(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let session = try await api.signUp(avatar: TestImages.dataURI(TestImages.png, type: "image/jpeg"))
            let check = try await api.request(.get, "/api/auth/check", headers: session.cookie)
            let first = try #require(check.object["avatar"] as? String)
            #expect(first.hasPrefix("/uploads/avatar-"))
            #expect(first.hasSuffix(".png"), "the sniffed format names the file, not the declared type")

            let served = try await api.request(.get, first)
            #expect(served.status == .ok)
            #expect(served.headers[.contentType] == "image/png")
            #expect(Array(served.body.readableBytesView) == TestImages.png)

            let updated = try await api.request(
                .put, "/api/auth/update", json: ["avatar": TestImages.dataURI(TestImages.webp)], headers: session.cookie
            )
            #expect(updated.status == .ok)
            let second = try #require(updated.object["avatar"] as? String)
            #expect(second.hasSuffix(".webp"))
            #expect(try await api.request(.get, second).headers[.contentType] == "image/webp")
            // The replaced file is gone.
            #expect(try await api.request(.get, first).status == .notFound)
            let files = try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory + "/uploads")
            #expect(files.count == 1)

            let removed = try await api.request(.put, "/api/auth/update", json: ["avatar": ""], headers: session.cookie)
            #expect(removed.object["avatar"] as? String == "")
            #expect(try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory + "/uploads").isEmpty)
        }
    }

    @Test(arguments: StoreKind.available)
    func imageMessagesAreStoredAndServed(kind: StoreKind) async throws {
        try await withApp(kind) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let reply = try await api.request(
                .post, "/api/message", json: ["to": bob.id, "image": TestImages.dataURI(TestImages.gif)],
                headers: ann.cookie)
            #expect(reply.status == .created)
            #expect(reply.object["text"] == nil)
            let url = try #require(reply.object["image"] as? String)
            let served = try await api.request(.get, url)
            #expect(served.headers[.contentType] == "image/gif")
            #expect(Array(served.body.readableBytesView) == TestImages.gif)
        }
    }

    @Test func aFiveMegabyteImageFitsAndALargerOneIsRefused() async throws {
        try await withApp(.sqlite) { api in
            let ann = try await api.signUp(name: "Ann")
            let bob = try await api.signUp(name: "Bob")
            let fiveMB = TestImages.jpeg + Array(repeating: 7, count: 5 * 1024 * 1024 - TestImages.jpeg.count)
            let ok = try await api.request(
                .post, "/api/message", json: ["to": bob.id, "image": TestImages.dataURI(fiveMB)], headers: ann.cookie)
            #expect(ok.status == .created, "\(ok.text)")

            let tooBig = fiveMB + [0]
            let refused = try await api.request(
                .post, "/api/message", json: ["to": bob.id, "image": TestImages.dataURI(tooBig)], headers: ann.cookie)
            #expect(refused.status == .contentTooLarge)
            #expect(refused.code == "image_too_large")
            // Nothing was stored for the refused image.
            let files = try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory + "/uploads")
            #expect(files.count == 1)
        }
    }

    @Test func onlyRealImagesAreAccepted() async throws {
        try await withApp(.sqlite) { api in
            let html = Array("<html><script>alert(1)</script></html>".utf8)
            let reply = try await api.request(
                .post,
                "/api/auth/signup",
                json: [
                    "name": "X", "email": "x@example.com", "password": "secret1", "avatar": TestImages.dataURI(html),
                ]
            )
            #expect(reply.status == .unsupportedMediaType)
            #expect(reply.code == "unsupported_image_type")
            #expect(try FileManager.default.contentsOfDirectory(atPath: api.dataDirectory + "/uploads").isEmpty)
            // No account was made with a failed avatar.
            let login = try await api.request(
                .post, "/api/auth/login", json: ["email": "x@example.com", "password": "secret1"])
            #expect(login.status == .badRequest)
        }
    }

    /// Only plain image names reach the file system: a NUL used to cut the name short there, and
    /// `/uploads/.` answered a redirect echoing the path.
    @Test func onlyPlainImageNamesAreServed() async throws {
        try await withApp(.sqlite) { api in
            let session = try await api.signUp(avatar: TestImages.dataURI(TestImages.png))
            let avatar = try #require(
                try await api.request(.get, "/api/auth/check", headers: session.cookie).object["avatar"] as? String)
            #expect(try await api.request(.get, avatar).status == .ok)
            for path in [
                avatar + "%00.txt", avatar + "%00", "/uploads/.", "/uploads/", "/uploads", "/uploads/%2e",
                avatar + "/", avatar.replacingOccurrences(of: ".png", with: ".txt"), "/uploads/.jwt-secret",
                "/uploads/a..png", "/uploads/a..b.jpeg",
            ] {
                let reply = try await api.request(.get, path)
                #expect(reply.status == .notFound, "\(path): \(reply.status)")
                #expect(reply.headers[.location] == nil, "\(path)")
            }
            // Other methods on an image are 405, with what is allowed.
            let post = try await api.request(.post, avatar)
            #expect(post.status == .methodNotAllowed)
            #expect(post.headers[.allow] == "GET, HEAD, OPTIONS")
            #expect(try await api.request(.head, avatar).status == .ok)
        }
    }

    /// A range past the end used to get a negative Content-Length: ranges are ignored and the whole
    /// image is served.
    @Test func rangesAreIgnored() async throws {
        try await withApp(.sqlite) { api in
            let session = try await api.signUp(avatar: TestImages.dataURI(TestImages.png))
            let avatar = try #require(
                try await api.request(.get, "/api/auth/check", headers: session.cookie).object["avatar"] as? String)
            for range in ["bytes=99999999-", "bytes=0-1", "bytes=5-2"] {
                let reply = try await api.request(.get, avatar, headers: [.range: range])
                #expect(reply.status == .ok, "\(range)")
                #expect(reply.headers[.contentLength] == String(TestImages.png.count), "\(range)")
                #expect(Array(reply.body.readableBytesView) == TestImages.png, "\(range)")
            }
        }
    }

    @Test func uploadPathsCannotEscapeTheDirectory() async throws {
        try await withApp(.sqlite) { api in
            for path in ["/uploads/../.jwt-secret", "/uploads/%2e%2e/.jwt-secret", "/uploads/..%2f.jwt-secret"] {
                let reply = try await api.request(.get, path)
                #expect(reply.status.code >= 400 && reply.status.code < 500, "\(path)")
                #expect(!reply.text.contains(TestSecrets.jwt))
            }
        }
    }
}
