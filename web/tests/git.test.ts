import { describe, expect, it } from "vitest";
import { cloneUrlProblem, defaultName, nameProblem } from "../src/lib/git";

describe("clone form validation", () => {
  it("accepts what the agent clones", () => {
    for (const url of ["https://github.com/o/r.git", "http://10.0.0.1:8080/r.git", "ssh://git@host/o/r", "git://host/r", "git@github.com:o/r.git"]) {
      expect(cloneUrlProblem(url), url).toBeNull();
    }
  });

  it("refuses other schemes, blanks and non-URLs with a reason", () => {
    expect(cloneUrlProblem("")).toMatch(/enter/i);
    expect(cloneUrlProblem("file:///etc")).toMatch(/not file/);
    expect(cloneUrlProblem("ext::sh -c id")).toMatch(/spaces/);
    expect(cloneUrlProblem("not a url")).toMatch(/spaces/);
    expect(cloneUrlProblem("nonsense")).toMatch(/not a URL/);
    expect(cloneUrlProblem("https://host/")).toMatch(/path/);
  });

  it("names the folder as git does, and checks a given name", () => {
    expect(defaultName("https://host/o/repo.git/")).toBe("repo");
    expect(defaultName("git@host:o/tool.git")).toBe("tool");
    expect(nameProblem("ok-name_1.x")).toBeNull();
    expect(nameProblem("../etc")).not.toBeNull();
  });
});
