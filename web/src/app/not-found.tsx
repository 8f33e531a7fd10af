export default function NotFound() {
  return (
    <main id="main" className="narrow">
      <h1>Nothing here</h1>
      <p>
        <a href="/">Back to ClaudeCloud</a>
      </p>
    </main>
  );
}
