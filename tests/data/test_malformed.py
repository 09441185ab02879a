"""Malformed CAD-60 / CAD-120 / MSRDailyActivity3D input: every error names the
file, the line (or frame), what was expected and what was found."""
from __future__ import annotations

import re

import numpy as np
import pytest

from adl.data.cad import (parse_cad_skeleton, read_cad60, read_cad120, write_cad60_labels,
                      write_cad120_labels, write_cad_skeleton)
from adl.data.errors import DataFormatError, DatasetLayoutError, UnsafePathError
from adl.data.msr_daily import parse_msr_skeleton, read_msr_daily, write_msr_skeleton
from adl.data.video import FrameSource


def _joints(T, J=15, seed=0):
    rng = np.random.default_rng(seed)
    j = rng.normal(scale=0.4, size=(T, J, 3))
    j[..., 2] += 2.5
    return j


def _cad_lines(tmp_path, T=3):
    return write_cad_skeleton(tmp_path / "src.txt", _joints(T)).read_text().splitlines()


def _write(path, lines):
    path.write_text("\n".join(lines) + "\n")
    return path


def _where(path, line=None, frame=None):
    """The start of a DataFormatError message, as a regex."""
    s = re.escape(str(path))
    if line is not None:
        s += f", line {line}"
    if frame is not None:
        s += f", frame {frame}"
    return s + ": expected "


# --------------------------------------------------------------------------- CAD skeleton

def test_cad_truncated_line(tmp_path):
    lines = _cad_lines(tmp_path)
    f = lines[2].split(",")
    cut = ",".join(f[:99] + [f[99][:1]])                               # cut mid-value, no END
    p = _write(tmp_path / "t.txt", lines[:2] + [cut])
    with pytest.raises(DataFormatError, match=_where(p, 3) + r"171 comma-separated values.*"
                       r"found 100 values \(truncated line") as ei:
        parse_cad_skeleton(p)
    assert (ei.value.path, ei.value.line) == (p, 3)


def test_cad_wrong_value_count(tmp_path):
    lines = _cad_lines(tmp_path)
    lines[1] = lines[1] + "7,"                                         # 172 values
    p = _write(tmp_path / "w.txt", lines)
    with pytest.raises(DataFormatError, match=_where(p, 2) + r"171 comma-separated values .*"
                       r"found 172 values$"):
        parse_cad_skeleton(p)


def test_cad_non_numeric_value(tmp_path):
    lines = _cad_lines(tmp_path)
    f = lines[2].split(",")
    f[25] = "12.5x"                                                    # P(2) x
    lines[2] = ",".join(f)
    p = _write(tmp_path / "n.txt", lines)
    with pytest.raises(DataFormatError, match=_where(p, 3) + r"a number in column 26 "
                       r"\(P\(2\) x\), found '12.5x'"):
        parse_cad_skeleton(p)


def test_cad_textual_nan_is_an_error(tmp_path):
    lines = _cad_lines(tmp_path)
    f = lines[1].split(",")
    f[157] = "nan"                                                     # P(12) z
    lines[1] = ",".join(f)
    p = _write(tmp_path / "nan.txt", lines)
    with pytest.raises(DataFormatError, match=_where(p, 2) + r"a finite number in column 158 "
                       r"\(P\(12\) z\); missing joints are written 0,0,0 with CONF 0, "
                       r"found 'nan'"):
        parse_cad_skeleton(p)


def test_cad_missing_end(tmp_path):
    lines = _cad_lines(tmp_path)
    p = _write(tmp_path / "e.txt", lines[:-1])
    with pytest.raises(DataFormatError, match=_where(p, 4) + r"a final line 'END' after the "
                       r"frame rows, found end of file after the frame row at line 3 "
                       r"\(missing END\)"):
        parse_cad_skeleton(p)


def test_cad_empty_file(tmp_path):
    p = tmp_path / "empty.txt"
    p.write_text("\n  \n")
    with pytest.raises(DataFormatError, match=_where(p, 1) + r"frame rows .* then an END line, "
                       r"found an empty file"):
        parse_cad_skeleton(p)


def test_cad_missing_file(tmp_path):
    p = tmp_path / "nope.txt"
    with pytest.raises(DataFormatError, match=re.escape(str(p)) + r": expected a CAD skeleton "
                       r"file .*, found no such file"):
        parse_cad_skeleton(p)


def test_cad_undecodable_bytes(tmp_path):
    p = tmp_path / "bin.txt"
    p.write_bytes(b"1,2,\xff\xfe\n")
    with pytest.raises(DataFormatError, match=r"ASCII text\), found undecodable bytes at byte "
                       r"offset 4"):
        parse_cad_skeleton(p)


def test_cad_only_end(tmp_path):
    p = _write(tmp_path / "o.txt", ["END"])
    with pytest.raises(DataFormatError, match=_where(p, 1) + "at least one frame row before END"):
        parse_cad_skeleton(p)


def test_cad_content_after_end(tmp_path):
    lines = _cad_lines(tmp_path)
    p = _write(tmp_path / "a.txt", lines + ["", lines[0]])
    with pytest.raises(DataFormatError, match=_where(p, 6) + r"nothing after the END line "
                       r"\(line 4\)"):
        parse_cad_skeleton(p)


@pytest.mark.parametrize("value", ["1.5", "0", "-3"])
def test_cad_bad_frame_number(tmp_path, value):
    lines = _cad_lines(tmp_path)
    lines[1] = value + lines[1][lines[1].index(","):]
    p = _write(tmp_path / "f.txt", lines)
    with pytest.raises(DataFormatError, match=_where(p, 2) + r"a positive integer frame number "
                       rf"\(Frame#, column 1\), found '{re.escape(value)}'"):
        parse_cad_skeleton(p)


def test_cad_frame_numbers_going_back(tmp_path):
    p = write_cad_skeleton(tmp_path / "b.txt", _joints(3), frame_numbers=[1, 2, 3])
    lines = p.read_text().splitlines()
    lines[2] = "2" + lines[2][1:]
    _write(p, lines)
    with pytest.raises(DataFormatError, match=_where(p, 3, 2) + r"strictly increasing frame "
                       r"numbers, found frame 2 after frame 2"):
        parse_cad_skeleton(p)


def test_cad_all_zero_skeleton(tmp_path):
    p = write_cad_skeleton(tmp_path / "z.txt", np.zeros((4, 15, 3)))
    with pytest.raises(DataFormatError, match=re.escape(str(p)) + r": expected at least one "
                       r"joint position different from 0,0,0, found an all-zero skeleton "
                       r"\(every joint is 0,0,0 in all 4 frames, lines 1-4\)"):
        parse_cad_skeleton(p)
    q = write_cad_skeleton(tmp_path / "n.txt", np.full((2, 15, 3), np.nan))   # all missing
    with pytest.raises(DataFormatError, match="all-zero skeleton"):
        parse_cad_skeleton(q)


# --------------------------------------------------------------------------- CAD-60 reader

def _cad60(root):
    write_cad60_labels(root / "data1" / "activityLabel.txt", [("0510160858", "drinking water")])
    write_cad_skeleton(root / "data1" / "0510160858.txt", _joints(3))
    return root


def test_cad60_missing_label_file(tmp_path):
    _cad60(tmp_path)
    (tmp_path / "data2").mkdir()
    p = tmp_path / "data2" / "activityLabel.txt"
    with pytest.raises(DataFormatError, match=re.escape(str(p)) + r": expected the CAD-60 label "
                       r"file activityLabel.txt .*, found no such file"):
        read_cad60(tmp_path)


def test_cad60_label_file_without_end(tmp_path):
    p = tmp_path / "data1" / "activityLabel.txt"
    _cad60(tmp_path)
    p.write_text("0510160858,drinking water,\n")
    with pytest.raises(DataFormatError, match=_where(p, 2) + r"a final line 'END' after the label "
                       r"lines, found end of file \(missing END\)"):
        read_cad60(tmp_path)


@pytest.mark.parametrize("text, line, found", [
    ("0510160858\nEND\n", 1, "'0510160858'"),
    ("0510160858,drinking water,\n,still,\nEND\n", 2, "',still,'"),
])
def test_cad60_malformed_label_line(tmp_path, text, line, found):
    _cad60(tmp_path)
    p = tmp_path / "data1" / "activityLabel.txt"
    p.write_text(text)
    with pytest.raises(DataFormatError, match=_where(p, line) + r"a label line "
                       rf"'<id>,<activity>,', found {found}"):
        read_cad60(tmp_path)


def test_cad60_empty_and_trailing_label_files(tmp_path):
    _cad60(tmp_path)
    p = tmp_path / "data1" / "activityLabel.txt"
    p.write_text("\nEND\n")
    with pytest.raises(DataFormatError, match=_where(p, 2) + "at least one '<id>,<activity>,' "
                       "label line, found no label line"):
        read_cad60(tmp_path)
    p.write_text("0510160858,drinking water,\nEND\n0510160859,still,\n")
    with pytest.raises(DataFormatError, match=_where(p, 3) + r"nothing after the END line"):
        read_cad60(tmp_path)


def test_cad60_duplicate_ids_in_one_file_and_across_persons(tmp_path):
    _cad60(tmp_path)
    p1 = tmp_path / "data1" / "activityLabel.txt"
    write_cad60_labels(p1, [("0510160858", "drinking water"), ("0510160858", "still")])
    with pytest.raises(DataFormatError, match=_where(p1, 2) + r"sequence ids unique in the "
                       rf"dataset, found id '0510160858' already listed in {re.escape(str(p1))}, "
                       r"line 1"):
        read_cad60(tmp_path)
    write_cad60_labels(p1, [("0510160858", "drinking water")])
    p2 = write_cad60_labels(tmp_path / "data2" / "activityLabel.txt", [("0510160858", "still")])
    with pytest.raises(DataFormatError, match=_where(p2, 1) + r"sequence ids unique .* already "
                       rf"listed in {re.escape(str(p1))}, line 1"):
        read_cad60(tmp_path)


def test_cad60_missing_skeleton_file(tmp_path):
    _cad60(tmp_path)
    lab = write_cad60_labels(tmp_path / "data1" / "activityLabel.txt",
                             [("0510160858", "drinking water"), ("0510160999", "still")])
    skel = tmp_path / "data1" / "0510160999.txt"
    with pytest.raises(DataFormatError, match=re.escape(str(skel)) + r": expected the skeleton "
                       rf"file of sequence 0510160999 \(listed in {re.escape(str(lab))}, line 2\), "
                       r"found no such file"):
        read_cad60(tmp_path)


def test_cad60_unsafe_and_odd_ids(tmp_path):
    _cad60(tmp_path)
    p = tmp_path / "data1" / "activityLabel.txt"
    p.write_text("../../etc/passwd,still,\nEND\n")
    with pytest.raises(UnsafePathError, match=re.escape(str(p)) + r", line 1: sequence id "
                       r"'\.\./\.\./etc/passwd' would escape the dataset folder"):
        read_cad60(tmp_path)
    p.write_text("05 10,still,\nEND\n")
    with pytest.raises(DataFormatError, match=_where(p, 1) + r"a sequence id made of letters, "
                       r"digits, '_' or '-' \(e\.g\. 0510175411\), found '05 10'"):
        read_cad60(tmp_path)


def test_cad60_layout_errors(tmp_path):
    with pytest.raises(DatasetLayoutError, match="no data1 ... data4 folders"):
        read_cad60(tmp_path)
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        read_cad60(tmp_path / "missing")


def test_cad_frame_folder_with_a_gap(tmp_path):
    _cad60(tmp_path)
    folder = tmp_path / "data1" / "0510160858"
    folder.mkdir()
    for n in (1, 2, 4):
        (folder / f"RGB_{n}.png").write_bytes(b"")
    (rec,) = read_cad60(tmp_path)                          # lazy by default: no listing
    assert rec.rgb == folder
    gap = (re.escape(str(folder)) + r", frame 3: expected consecutive frame numbers "
           r"\(RGB_\*\.png\), found a gap: frame 3 missing after 2")
    with pytest.raises(DataFormatError, match=gap):
        FrameSource(rec.rgb, rec.rgb_glob)                 # what `adl inspect` runs
    with pytest.raises(DataFormatError, match=gap):
        read_cad60(tmp_path, check_frames=True)


def test_cad_frame_folder_not_starting_at_1(tmp_path):
    _cad60(tmp_path)
    folder = tmp_path / "data1" / "0510160858"
    folder.mkdir()
    for n in (2, 3):
        (folder / f"RGB_{n}.png").write_bytes(b"")
    with pytest.raises(DataFormatError, match=re.escape(str(folder)) + r", frame 1: expected RGB "
                       r"frames numbered from RGB_1\.png, found first frame RGB_2\.png"):
        read_cad60(tmp_path, check_frames=True)


# --------------------------------------------------------------------------- CAD-120 reader

def _cad120(root, activity="arranging_objects", line=None):
    a = root / "Subject1_annotations" / activity
    write_cad120_labels(a / "activityLabel.txt",
                        [("0510175411", activity, "Subject1", [(1, "plate")])])
    if line is not None:
        (a / "activityLabel.txt").write_text(line + "\n")
    write_cad_skeleton(a / "0510175411.txt", _joints(3))
    return a


def test_cad120_missing_label_file(tmp_path):
    a = _cad120(tmp_path)
    (a / "activityLabel.txt").unlink()
    with pytest.raises(DataFormatError, match=re.escape(str(a / "activityLabel.txt")) +
                       r": expected the CAD-120 label file activityLabel.txt .*found no such file"):
        read_cad120(tmp_path)


def test_cad120_unknown_label(tmp_path):
    a = _cad120(tmp_path, "juggling")
    with pytest.raises(DataFormatError, match=_where(a / "activityLabel.txt", 1) +
                       r"one of the 10 CAD-120 activities \(arranging_objects, .*\), found unknown "
                       r"label 'juggling'"):
        read_cad120(tmp_path)


def test_cad120_label_differs_from_its_folder(tmp_path):
    a = _cad120(tmp_path, line="0510175411,having_meal,Subject1,1:plate,")
    with pytest.raises(DataFormatError, match=_where(a / "activityLabel.txt", 1) +
                       r"activity 'arranging_objects' \(the name of its folder\), found "
                       r"'having_meal'"):
        read_cad120(tmp_path)


def test_cad120_subject_field_differs_from_folder(tmp_path):
    a = _cad120(tmp_path, line="0510175411,arranging_objects,Subject4,1:plate,")
    with pytest.raises(DataFormatError, match=_where(a / "activityLabel.txt", 1) +
                       r"subject 1 \(the Subject1_annotations folder\), found 'Subject4'"):
        read_cad120(tmp_path)


@pytest.mark.parametrize("line, expected, found", [
    ("0510175411,arranging_objects", "a label line '<id>,<activity>,<subject>,<obj>:<type>,...'",
     "'0510175411,arranging_objects'"),
    ("0510175411,arranging_objects,1,plate,", "'<object id>:<object type>' in field 4", "'plate'"),
])
def test_cad120_malformed_label_line(tmp_path, line, expected, found):
    a = _cad120(tmp_path, line=line)
    with pytest.raises(DataFormatError, match=_where(a / "activityLabel.txt", 1) +
                       re.escape(expected) + ", found " + re.escape(found)):
        read_cad120(tmp_path)


def test_cad120_empty_label_file(tmp_path):
    a = _cad120(tmp_path, line="END")
    with pytest.raises(DataFormatError, match=_where(a / "activityLabel.txt", 1) +
                       "at least one '<id>,<activity>,<subject>,...' label line"):
        read_cad120(tmp_path)


def test_cad120_label_content_after_end(tmp_path):
    a = _cad120(tmp_path, line="0510175411,arranging_objects,1,1:plate,\nEND\nx,y,z")
    with pytest.raises(DataFormatError, match=_where(a / "activityLabel.txt", 3) +
                       r"nothing after the END line \(line 2\), found 'x,y,z'"):
        read_cad120(tmp_path)


def test_cad120_duplicate_ids_across_subjects(tmp_path):
    a1 = _cad120(tmp_path)
    a3 = tmp_path / "Subject3_annotations" / "arranging_objects"
    write_cad120_labels(a3 / "activityLabel.txt",
                        [("0510175411", "arranging_objects", "Subject3", [])])
    with pytest.raises(DataFormatError, match=_where(a3 / "activityLabel.txt", 1) +
                       r"sequence ids unique in the dataset, found id '0510175411' already listed "
                       rf"in {re.escape(str(a1 / 'activityLabel.txt'))}, line 1"):
        read_cad120(tmp_path)


@pytest.mark.parametrize("row, expected, found", [
    ("0510175411,1,5", "a segment line '<id>,<start>,<end>,<sub-activity>,<affordance>,...'",
     "'0510175411,1,5'"),
    ("0999999999,1,5,reaching", "a sequence id listed in {folder}/activityLabel.txt "
     "(0510175411)", "'0999999999'"),
    ("0510175411,one,5,reaching", "an integer start frame (field 2)", "'one'"),
    ("0510175411,1,5.5,reaching", "an integer end frame (field 3)", "'5.5'"),
    ("0510175411,6,5,reaching", "1 <= start frame <= end frame (1-based)", "start 6, end 5"),
])
def test_cad120_malformed_labeling(tmp_path, row, expected, found):
    a = _cad120(tmp_path)
    p = a / "labeling.txt"
    p.write_text("0510175411,1,2,reaching,reachable\n" + row + "\n")
    expected = expected.format(folder=a)
    with pytest.raises(DataFormatError, match=_where(p, 2) + re.escape(expected) + ", found " +
                       re.escape(found)):
        read_cad120(tmp_path)


def test_cad120_layout_errors(tmp_path):
    with pytest.raises(DatasetLayoutError, match=r"no Subject\{N\}_annotations folders"):
        read_cad120(tmp_path)
    (tmp_path / "Subject1_annotations").mkdir()
    with pytest.raises(DatasetLayoutError, match="no activity folder"):
        read_cad120(tmp_path)
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        read_cad120(tmp_path / "missing")


def test_cad120_missing_skeleton_file(tmp_path):
    a = _cad120(tmp_path)
    (a / "0510175411.txt").unlink()
    with pytest.raises(DataFormatError, match=re.escape(str(a / "0510175411.txt")) +
                       ": expected the skeleton file of sequence 0510175411"):
        read_cad120(tmp_path)


def test_cad120_skeleton_error_surfaces_at_load_time(tmp_path):
    a = _cad120(tmp_path)
    write_cad_skeleton(a / "0510175411.txt", np.zeros((2, 15, 3)))
    (rec,) = read_cad120(tmp_path)
    with pytest.raises(DataFormatError, match="all-zero skeleton"):
        rec.load_skeleton()


# --------------------------------------------------------------------------- MSR skeleton

def _msr_text(T=2, seed=0):
    p_lines = []
    j = _joints(T, 20, seed)
    for t in range(T):
        p_lines.append("40")
        for x, y, z in j[t]:
            p_lines += [f"{x:.4f} {y:.4f} {z:.4f} 1", "0.5 0.5 20000 1"]
    return p_lines


def test_msr_empty_file(tmp_path):
    p = tmp_path / "e.txt"
    p.write_text("")
    with pytest.raises(DataFormatError, match=_where(p, 1) + r"a header '<frames> <joints>' and "
                       r"per-frame rows, found an empty file"):
        parse_msr_skeleton(p)


def test_msr_missing_file(tmp_path):
    with pytest.raises(DataFormatError, match=r"nope\.txt: expected an MSRDailyActivity3D "
                       r"skeleton file, found no such file"):
        parse_msr_skeleton(tmp_path / "nope.txt")


@pytest.mark.parametrize("header, line, expected, found", [
    (["2 20 1"], 1, "a header '<frames> <joints>' (2 integers)", "3 values: '2 20 1'"),
    (["two 20"], 1, "an integer frame count (header)", "'two'"),
    (["2 15"], 1, "20 joints in the header", "15"),
    (["0 20"], 1, "a frame count >= 1 in the header", "0"),
    (["2", "20 1"], 2, "the joint count (20) on its own line", "'20 1'"),
])
def test_msr_bad_header(tmp_path, header, line, expected, found):
    p = _write(tmp_path / "h.txt", header + _msr_text())
    with pytest.raises(DataFormatError, match=_where(p, line) + re.escape(expected) +
                       ", found " + re.escape(found)):
        parse_msr_skeleton(p)


def test_msr_huge_integer_is_a_format_error_not_a_bare_value_error(tmp_path):
    p = _write(tmp_path / "h.txt", ["9" * 5000 + " 20"] + _msr_text())
    with pytest.raises(DataFormatError, match=_where(p, 1) + r"an integer frame count \(header\)"):
        parse_msr_skeleton(p)


def test_msr_header_alone(tmp_path):
    p = _write(tmp_path / "h.txt", ["2"])
    with pytest.raises(DataFormatError, match=_where(p, 2) + r"the joint count \(20\) after the "
                       r"frame count, found end of file"):
        parse_msr_skeleton(p)


@pytest.mark.parametrize("count", ["39", "41", "-40", "160"])
def test_msr_row_count_not_0_40_80(tmp_path, count):
    body = _msr_text()
    body[41] = count                                         # the second frame's row count
    p = _write(tmp_path / "r.txt", ["2 20"] + body)
    with pytest.raises(DataFormatError, match=_where(p, 43, 2) + r"a per-frame row count of "
                       rf"0, 40 or 80, found {count}$"):
        parse_msr_skeleton(p)


def test_msr_non_integer_row_count(tmp_path):
    body = _msr_text()
    body[0] = "40.0"
    p = _write(tmp_path / "r.txt", ["2 20"] + body)
    with pytest.raises(DataFormatError, match=_where(p, 2, 1) + r"an integer per-frame row count "
                       r"\(0, 40 or 80\), found '40\.0'"):
        parse_msr_skeleton(p)


def test_msr_header_claims_a_billion_frames(tmp_path):
    p = _write(tmp_path / "big.txt", ["1000000000 20"] + _msr_text(2))
    with pytest.raises(DataFormatError, match=_where(p, 84, 3) + r"frame 3 of the 1000000000 "
                       r"frames the header \(line 1\) claims, found end of file after 2 frames"):
        parse_msr_skeleton(p)


def test_msr_more_frames_than_claimed(tmp_path):
    p = _write(tmp_path / "more.txt", ["1 20"] + _msr_text(2))
    with pytest.raises(DataFormatError, match=_where(p, 43) + r"end of file after the 1 frames "
                       r"the header \(line 1\) claims, found '40'"):
        parse_msr_skeleton(p)


def test_msr_truncated_frame(tmp_path):
    p = _write(tmp_path / "t.txt", ["2 20"] + _msr_text(2)[:-10])
    with pytest.raises(DataFormatError, match=_where(p, 74, 2) + r"40 joint rows in frame 2 "
                       r"\(row count at line 43\), found end of file after 30 rows"):
        parse_msr_skeleton(p)


def test_msr_truncated_line(tmp_path):
    body = _msr_text(2)
    body[-1] = body[-1][:7]
    p = _write(tmp_path / "t.txt", ["2 20"] + body)
    with pytest.raises(DataFormatError, match=_where(p, 83, 2) + r"4 numbers per joint row .*, "
                       r"found 2 values: '0.5 0.5'"):
        parse_msr_skeleton(p)


def test_msr_non_numeric_and_nan(tmp_path):
    body = _msr_text(2)
    body[5] = "0.1 abc 2.5 1"
    p = _write(tmp_path / "n.txt", ["2 20"] + body)
    with pytest.raises(DataFormatError, match=_where(p, 7) + r"a number in column 2 of a joint "
                       r"row, found 'abc'"):
        parse_msr_skeleton(p)
    body[5] = "0.1 nan 2.5 1"
    _write(p, ["2 20"] + body)
    with pytest.raises(DataFormatError, match=_where(p, 7) + r"a finite number in column 2, "
                       r"found 'nan'"):
        parse_msr_skeleton(p)


def test_msr_all_zero_and_no_skeleton(tmp_path):
    p = write_msr_skeleton(tmp_path / "z.txt", np.zeros((3, 20, 3)), np.zeros((3, 20, 2)))
    with pytest.raises(DataFormatError, match=re.escape(str(p)) + r": expected at least one joint "
                       r"position different from 0 0 0, found an all-zero skeleton"):
        parse_msr_skeleton(p)
    q = write_msr_skeleton(tmp_path / "n.txt", np.full((3, 20, 3), np.nan))
    with pytest.raises(DataFormatError, match=re.escape(str(q)) + r": expected at least one frame "
                       r"with a skeleton \(row count 40 or 80\), found row count 0 in all 3 "
                       r"frames"):
        parse_msr_skeleton(q)


# --------------------------------------------------------------------------- MSR reader

@pytest.mark.parametrize("name, expected, found", [
    ("a17_s01_e01_skeleton.txt", "an action number a01-a16", "unknown action a17"),
    ("a00_s01_e01_rgb.avi", "an action number a01-a16", "unknown action a00"),
    ("a01_s01_e03_skeleton.txt", "environment e01 (sitting) or e02 (standing)", "e03"),
    ("a01_s00_e01_skeleton.txt", "a subject number s01 or higher", "s00"),
    ("a1_s01_e01_skeleton.txt", "a file name aXX_sYY_eZZ_skeleton.txt",
     "'a1_s01_e01_skeleton.txt'"),
])
def test_msr_bad_file_names(tmp_path, name, expected, found):
    write_msr_skeleton(tmp_path / "a01_s01_e01_skeleton.txt", _joints(2, 20))
    p = tmp_path / name
    p.write_text("")
    with pytest.raises(DataFormatError, match=re.escape(str(p)) + ": expected " +
                       re.escape(expected) + ".*, found " + re.escape(found)):
        read_msr_daily(tmp_path)


def test_msr_layout_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(DatasetLayoutError, match="no aXX_sYY_eZZ_skeleton.txt"):
        read_msr_daily(tmp_path)
    with pytest.raises(DatasetLayoutError, match="not a folder"):
        read_msr_daily(tmp_path / "missing")


# --------------------------------------------------------------------------- odd files

def test_a_folder_instead_of_a_skeleton_file(tmp_path):
    (tmp_path / "d.txt").mkdir()
    with pytest.raises(DataFormatError, match=r"d\.txt: expected a CAD skeleton file .*, "
                       r"found a folder"):
        parse_cad_skeleton(tmp_path / "d.txt")
    with pytest.raises(DataFormatError, match=r"d\.txt: expected an MSRDailyActivity3D skeleton "
                       r"file, found a folder"):
        parse_msr_skeleton(tmp_path / "d.txt")


def test_msr_undecodable_bytes_in_header_and_rows(tmp_path):
    p = tmp_path / "u.txt"
    p.write_bytes(b"2 20\n\xff\xfe\n")
    with pytest.raises(DataFormatError, match=r"u\.txt, line 2: expected an MSRDailyActivity3D "
                       r"skeleton text file, found undecodable bytes$"):
        parse_msr_skeleton(p)
    p.write_bytes(("2 20\n40\n" + "1 2 3 1\n" * 10).encode() + b"\xff\n" * 40)
    with pytest.raises(DataFormatError, match=r"u\.txt, line 13: expected an MSRDailyActivity3D "
                       r"skeleton text file, found undecodable bytes$"):
        parse_msr_skeleton(p)


def test_rows_numpy_cannot_parse_are_still_reported(tmp_path, monkeypatch):
    # defensive branch: loadtxt refuses a row although every field looks numeric
    cad = write_cad_skeleton(tmp_path / "c.txt", _joints(2))
    msr = write_msr_skeleton(tmp_path / "m.txt", _joints(2, 20))

    def refuse(*args, **kwargs):
        raise ValueError("refused")

    monkeypatch.setattr(np, "loadtxt", refuse)
    with pytest.raises(DataFormatError, match=_where(cad, 1) + "comma-separated numbers, "
                       "found a row numpy cannot parse"):
        parse_cad_skeleton(cad)
    with pytest.raises(DataFormatError, match=_where(msr, 3) + "whitespace-separated numbers, "
                       "found a row numpy cannot parse"):
        parse_msr_skeleton(msr)
