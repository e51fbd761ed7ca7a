import Foundation
import Testing

@testable import ParleyPostgres
@testable import ParleyTesting

@Suite("SQLScript")
struct SQLScriptTests {
    @Test func splitsOnSemicolonsOutsideQuotesAndComments() throws {
        let script = """
            -- leading comment; with a semicolon
            CREATE TABLE a (x text DEFAULT 'a;b');
            /* block; /* nested; */ still comment */
            INSERT INTO "we;ird" VALUES (E'it\\'s;');
            CREATE FUNCTION f() RETURNS trigger AS $$ BEGIN PERFORM 1; RETURN NEW; END $$ LANGUAGE plpgsql;
            CREATE FUNCTION g() RETURNS int AS $body$ SELECT 1; $body$ LANGUAGE sql;
            SELECT $1;
              ;
            SELECT 'it''s'
            """
        let statements = SQLScript.statements(in: script)
        try #require(statements.count == 6, "\(statements)")
        #expect(statements[0] == "CREATE TABLE a (x text DEFAULT 'a;b')")
        #expect(statements[1] == "INSERT INTO \"we;ird\" VALUES (E'it\\'s;')")
        #expect(statements[2].hasSuffix("LANGUAGE plpgsql"))
        #expect(statements[3].contains("$body$ SELECT 1; $body$"))
        #expect(statements[4] == "SELECT $1")
        #expect(statements[5] == "SELECT 'it''s'")
    }

    @Test func ignoresCommentOnlyScripts() {
        #expect(SQLScript.statements(in: "-- nothing\n/* at all */\n").isEmpty)
    }

    @Test func survivesUnterminatedInput() {
        #expect(SQLScript.statements(in: "SELECT 'open").count == 1)
        #expect(SQLScript.statements(in: "SELECT $$ open").count == 1)
        #expect(SQLScript.statements(in: "/* open").isEmpty)
    }

    @Test func migrationsListMatchesTheSQLDirectory() throws {
        // Tests/ParleyPostgresTests/<this file> → the repository's sql/.
        let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("sql")
        let files = try FileManager.default.contentsOfDirectory(atPath: directory.path).filter { $0.hasSuffix(".sql") }
            .sorted()
        #expect(PostgresSchema.migrations.map(\.name) == files)
        #expect(PostgresSchema.migrations.map(\.version) == Array(1...files.count))
    }
}
