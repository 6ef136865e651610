import type { ComponentChildren } from 'preact';

/** A data table that scrolls sideways inside its own box on a narrow screen, never the page. */
export function Table(props: {
  /** Column headings; a `false` one (a column only admins see) is left out. */
  head: Array<ComponentChildren | false>;
  class?: string;
  testId?: string;
  children: ComponentChildren;
}) {
  return (
    <div class="table-wrap">
      <table class={props.class} data-testid={props.testId}>
        <thead>
          <tr>{props.head.map((h) => h !== false && <th scope="col">{h}</th>)}</tr>
        </thead>
        <tbody>{props.children}</tbody>
      </table>
    </div>
  );
}

/** An error the screen reader announces. */
export function Alert(props: { children: ComponentChildren }) {
  return (
    <p class="error" role="alert">
      {props.children}
    </p>
  );
}
