import { describe, expect, it } from 'vitest';
import { renderTemplate } from './template.js';

describe('renderTemplate', () => {
  const data = {
    Name: '/web',
    State: { Status: 'running', Pid: 42 },
    Names: ['a', 'b'],
    Labels: { x: '1' },
    Empty: [],
  };
  it.each([
    ['{{.Name}}', '/web'],
    ['{{.State.Status}} {{.State.Pid}}', 'running 42'],
    ['{{json .State}}', '{"Status":"running","Pid":42}'],
    ['{{join .Names ","}}', 'a,b'],
    ['{{index .Labels "x"}}', '1'],
    ['{{range .Names}}[{{.}}]{{end}}', '[a][b]'],
    ['{{range $i, $n := .Names}}{{$i}}={{$n}} {{end}}', '0=a 1=b '],
    ['{{if eq .State.Status "running"}}up{{else}}down{{end}}', 'up'],
    ['{{if .Empty}}x{{else if .Names}}names{{else}}none{{end}}', 'names'],
    ['{{.Name | upper}}', '/WEB'],
    ['{{with .State}}{{.Pid}}{{end}}', '42'],
    ['{{printf "%-5s|%3d" "ab" 7}}', 'ab   |  7'],
    ['{{.Missing}}', '<no value>'],
    ['{{.Labels}}', 'map[x:1]'],
    ['a {{- " b " -}} c', 'a b c'],
  ])('%s', (template, expected) => {
    expect(renderTemplate(template, data)).toBe(expected);
  });

  it('reports unknown functions', () => {
    expect(() => renderTemplate('{{nosuch .}}', data)).toThrow('function "nosuch" not defined');
  });
});
